//! Chunks against the `jmt` crate's own roots: an honest walk of any map checks at every
//! step and gives back every account, and each kind of lie is refused by its rule.

use proptest::prelude::*;

use super::chunk::*;
use super::*;
use crate::types::Amount;

fn address(i: u32) -> Address {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&i.to_le_bytes());
    bytes[31] = 7;
    Address::from_bytes(bytes)
}

fn account(i: u32) -> Account {
    Account {
        balance: Amount::from_base_units(u64::from(i) * 1_000 + 1),
        nonce: u64::from(i % 5),
    }
}

/// `n` accounts, sorted by key as a chunk carries them.
fn accounts(n: u32) -> Vec<(Address, Account)> {
    let mut all: Vec<_> = (0..n).map(|i| (address(i), account(i))).collect();
    all.sort_by_key(|(address, _)| account_key(address));
    all
}

/// What an honest peer answers for `prefix`, from the sorted list of every account, when
/// chunks hold at most `max` accounts.
fn honest(all: &[(Address, Account)], prefix: &KeyPrefix, max: usize) -> Chunk {
    let under: Vec<_> = all
        .iter()
        .filter(|(address, _)| prefix.contains(&account_key(address)))
        .copied()
        .collect();
    if under.len() <= max || prefix.depth() == MAX_PREFIX_NIBBLES {
        return Chunk::Accounts(under);
    }
    let mut children = Box::new([SplitChild::Empty; SPLIT_CHILDREN]);
    for (nibble, child) in children.iter_mut().enumerate() {
        let Some(below) = prefix.child(nibble as u8) else {
            continue;
        };
        let group: Vec<_> = under
            .iter()
            .filter(|(address, _)| below.contains(&account_key(address)))
            .copied()
            .collect();
        *child = match group.as_slice() {
            [] => SplitChild::Empty,
            [(address, account)] => SplitChild::Account(*address, *account),
            _ => SplitChild::Subtree {
                hash: subtree_hash(&group, &below),
                accounts: group.len() as u64,
            },
        };
    }
    Chunk::Split(children)
}

/// The hash of a subtree, as a chunk of all its accounts computes it.
fn subtree_hash(group: &[(Address, Account)], prefix: &KeyPrefix) -> [u8; 32] {
    let chunk = Chunk::Accounts(group.to_vec());
    match chunk.verify(prefix, &[0; 32]) {
        Err(ChunkError::HashMismatch { computed, .. }) => computed,
        other => panic!("{other:?}"),
    }
}

/// Walks the whole map top down as a syncing node does, every chunk checked, and returns
/// every account, sorted by key.
fn walk(all: &[(Address, Account)], root: &StateRoot, max: usize) -> Vec<(Address, Account)> {
    let mut found = crate::testkit::walk_chunks(root, |prefix| honest(all, prefix, max))
        .unwrap()
        .accounts;
    found.sort_by_key(|(address, _)| account_key(address));
    found
}

#[test]
fn an_honest_walk_checks_at_every_step_and_finds_every_account() {
    for n in [0, 1, 2, 3, 17, 300, 2_000] {
        let all = accounts(n);
        let root = MemoryTree::with_accounts(all.clone()).unwrap().root();
        for max in [2, 5, 64, MAX_CHUNK_ACCOUNTS] {
            assert_eq!(walk(&all, &root, max), all, "{n} accounts, chunks of {max}");
        }
    }
}

proptest! {
    #[test]
    fn any_set_of_accounts_walks_back_to_its_root(ids in proptest::collection::btree_set(0u32..50_000, 0..200), max in 2usize..40) {
        let mut all: Vec<_> = ids.iter().map(|i| (address(*i), account(*i))).collect();
        all.sort_by_key(|(address, _)| account_key(address));
        let root = MemoryTree::with_accounts(all.clone()).unwrap().root();
        prop_assert_eq!(walk(&all, &root, max), all);
    }
}

/// The children of a split.
type Children = Box<[SplitChild; SPLIT_CHILDREN]>;

/// A map of 300 accounts, its root, and the honest root split at chunks of 64.
fn split_map() -> (Vec<(Address, Account)>, [u8; 32], Children) {
    let all = accounts(300);
    let root = *MemoryTree::with_accounts(all.clone())
        .unwrap()
        .root()
        .as_bytes();
    let Chunk::Split(children) = honest(&all, &KeyPrefix::root(), 64) else {
        panic!("300 accounts split at 64");
    };
    (all, root, children)
}

#[test]
fn a_changed_missing_or_extra_account_is_refused() {
    let all = accounts(40);
    let root = *MemoryTree::with_accounts(all.clone())
        .unwrap()
        .root()
        .as_bytes();
    let prefix = KeyPrefix::root();

    let mut changed = all.clone();
    changed[7].1.balance = Amount::from_base_units(1);
    let refused = Chunk::Accounts(changed).verify(&prefix, &root);
    assert!(matches!(refused, Err(ChunkError::HashMismatch { .. })));

    let mut missing = all.clone();
    missing.remove(20);
    let refused = Chunk::Accounts(missing).verify(&prefix, &root);
    assert!(matches!(refused, Err(ChunkError::HashMismatch { .. })));

    let mut repeated = all.clone();
    repeated.insert(5, all[5]);
    let refused = Chunk::Accounts(repeated).verify(&prefix, &root);
    assert_eq!(refused, Err(ChunkError::OutOfOrder { index: 6 }));

    let mut swapped = all.clone();
    swapped.swap(3, 4);
    let refused = Chunk::Accounts(swapped).verify(&prefix, &root);
    assert_eq!(refused, Err(ChunkError::OutOfOrder { index: 4 }));
}

#[test]
fn accounts_outside_the_prefix_or_too_few_for_a_subtree_are_refused() {
    let (all, _, children) = split_map();
    let (nibble, hash) = children
        .iter()
        .enumerate()
        .find_map(|(n, child)| match child {
            SplitChild::Subtree { hash, .. } => Some((n as u8, *hash)),
            _ => None,
        })
        .unwrap();
    let prefix = KeyPrefix::root().child(nibble).unwrap();
    let under: Vec<_> = all
        .iter()
        .filter(|(a, _)| prefix.contains(&account_key(a)))
        .copied()
        .collect();
    Chunk::Accounts(under.clone())
        .verify(&prefix, &hash)
        .unwrap();

    let stranger = all
        .iter()
        .find(|(a, _)| !prefix.contains(&account_key(a)))
        .copied()
        .unwrap();
    let mut with_stranger = under.clone();
    with_stranger.push(stranger);
    with_stranger.sort_by_key(|(address, _)| account_key(address));
    let refused = Chunk::Accounts(with_stranger).verify(&prefix, &hash);
    assert!(
        matches!(refused, Err(ChunkError::OutsidePrefix { .. })),
        "{refused:?}"
    );

    let one = Chunk::Accounts(under[..1].to_vec()).verify(&prefix, &hash);
    assert_eq!(one, Err(ChunkError::TooFewAccounts { count: 1 }));
    let none = Chunk::Accounts(Vec::new()).verify(&prefix, &hash);
    assert_eq!(none, Err(ChunkError::TooFewAccounts { count: 0 }));
}

#[test]
fn a_forged_split_is_refused() {
    let (all, root, children) = split_map();
    let prefix = KeyPrefix::root();
    Chunk::Split(children.clone())
        .verify(&prefix, &root)
        .unwrap();

    // A subtree said to be empty, to hide its accounts.
    let mut hidden = children.clone();
    let subtree = hidden
        .iter()
        .position(|c| matches!(c, SplitChild::Subtree { .. }))
        .unwrap();
    hidden[subtree] = SplitChild::Empty;
    let refused = Chunk::Split(hidden).verify(&prefix, &root);
    assert!(matches!(refused, Err(ChunkError::HashMismatch { .. })));

    // The claimed account counts are not part of any hash: lying about them is harmless.
    let mut miscounted = children.clone();
    if let SplitChild::Subtree { accounts, .. } = &mut miscounted[subtree] {
        *accounts = u64::MAX;
    }
    Chunk::Split(miscounted).verify(&prefix, &root).unwrap();

    // A single account passed off as a subtree of its own leaf's hash.
    let small = accounts(20);
    let small_root = *MemoryTree::with_accounts(small.clone())
        .unwrap()
        .root()
        .as_bytes();
    let Chunk::Split(small_children) = honest(&small, &prefix, 2) else {
        panic!("20 accounts split at 2");
    };
    let single = small_children
        .iter()
        .position(|c| matches!(c, SplitChild::Account(..)))
        .expect("20 accounts over 16 children leave one alone");
    let SplitChild::Account(address, account) = small_children[single] else {
        unreachable!()
    };
    let mut disguised = small_children.clone();
    let key = account_key(&address);
    disguised[single] = SplitChild::Subtree {
        hash: leaf_hash(&key, &value_hash(&account_value(&account))),
        accounts: 1,
    };
    let refused = Chunk::Split(disguised).verify(&prefix, &small_root);
    assert!(matches!(refused, Err(ChunkError::HashMismatch { .. })));

    // An account moved to a child it does not belong under.
    let mut moved = small_children.clone();
    let other = (single + 1) % SPLIT_CHILDREN;
    moved.swap(single, other);
    let refused = Chunk::Split(moved).verify(&prefix, &small_root);
    assert!(
        matches!(refused, Err(ChunkError::OutsidePrefix { .. })),
        "{refused:?}"
    );

    // A split of the whole map's only account.
    let lonely = accounts(1);
    let mut one_child = Box::new([SplitChild::Empty; SPLIT_CHILDREN]);
    let nibble = key_nibble(&account_key(&lonely[0].0), 0);
    one_child[usize::from(nibble)] = SplitChild::Account(lonely[0].0, lonely[0].1);
    let lonely_root = MemoryTree::with_accounts(lonely).unwrap().root();
    let refused = Chunk::Split(one_child).verify(&prefix, lonely_root.as_bytes());
    assert_eq!(refused, Err(ChunkError::SplitTooSmall));
    let _ = all;
}

#[test]
fn chunks_round_trip_and_refuse_what_breaks_their_limits() {
    let (all, _, children) = split_map();
    for chunk in [Chunk::Accounts(all[..10].to_vec()), Chunk::Split(children)] {
        let bytes = encoding::encode(&chunk);
        assert_eq!(encoding::decode::<Chunk>(&bytes).unwrap(), chunk);
    }
    let prefix = KeyPrefix::from_nibbles(vec![1, 15, 0]).unwrap();
    assert_eq!(
        encoding::decode::<KeyPrefix>(&encoding::encode(&prefix)).unwrap(),
        prefix
    );
    assert!(KeyPrefix::from_nibbles(vec![16]).is_none());
    assert!(KeyPrefix::from_nibbles(vec![0; MAX_PREFIX_NIBBLES + 1]).is_none());
    assert!(encoding::decode::<KeyPrefix>(&[1, 16]).is_err());
    assert!(encoding::decode::<KeyPrefix>(&[65]).is_err());
    let mut too_many = vec![0u8];
    too_many.extend_from_slice(&(MAX_CHUNK_ACCOUNTS as u64 + 1).to_le_bytes());
    assert!(encoding::decode::<Chunk>(&too_many).is_err());
    assert!(encoding::decode::<Chunk>(&[1, 3]).is_err());
    assert!(encoding::decode::<Chunk>(&[2]).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_a_chunk(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(chunk) = encoding::decode::<Chunk>(&bytes) {
            let _ = chunk.verify(&KeyPrefix::root(), &[0; 32]);
        }
    }
}
