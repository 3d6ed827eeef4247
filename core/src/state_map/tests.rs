//! The state map against a model: random account changes and reverts, the root checked
//! against one rebuilt from scratch, and every proof checked against it.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;
use crate::encoding;
use crate::types::Amount;

fn address(i: u8) -> Address {
    let mut bytes = [0u8; 32];
    bytes[0] = i;
    bytes[31] = i.wrapping_mul(37);
    Address::from_bytes(bytes)
}

fn account(balance: u64, nonce: u64) -> Account {
    Account {
        balance: Amount::from_base_units(balance),
        nonce,
    }
}

/// Checks the root against a rebuild and a proof for every address in `0..n`.
fn check_against_model(tree: &MemoryTree, model: &BTreeMap<u8, Account>, n: u8) {
    let rebuilt = MemoryTree::with_accounts(model.iter().map(|(i, a)| (address(*i), *a))).unwrap();
    assert_eq!(
        tree.root(),
        rebuilt.root(),
        "the root depends on the accounts alone"
    );
    assert_eq!(tree.len(), model.len());
    for i in 0..n {
        let (found, proof) = tree.prove(&address(i)).unwrap();
        assert_eq!(found.as_ref(), model.get(&i));
        proof
            .verify(&tree.root(), &address(i), found.as_ref())
            .unwrap_or_else(|e| panic!("address {i}: {e}"));
        // The proof shows exactly what is there: claiming anything else fails.
        let other = found.map_or(Some(account(1, 0)), |a| match a.nonce {
            0 => None,
            n => Some(account(a.balance.base_units(), n - 1)),
        });
        assert!(proof
            .verify(&tree.root(), &address(i), other.as_ref())
            .is_err());
        let decoded: AccountProof = encoding::decode(&encoding::encode(&proof)).unwrap();
        assert_eq!(decoded, proof);
    }
}

#[test]
fn the_empty_map_has_the_empty_root_and_proves_every_absence() {
    let tree = MemoryTree::new();
    assert_eq!(tree.root(), EMPTY_ROOT);
    let (found, proof) = tree.prove(&address(1)).unwrap();
    assert_eq!(found, None);
    proof.verify(&EMPTY_ROOT, &address(1), None).unwrap();
    assert_eq!(
        proof.verify(&EMPTY_ROOT, &address(1), Some(&account(1, 0))),
        Err(ProofError::NoAccountShown)
    );
}

#[test]
fn these_checks_agree_with_the_tree_crates_own() {
    use jmt::{JellyfishMerkleTree, KeyHash, RootHash};
    let tree = MemoryTree::with_accounts((0..200).map(|i| (address(i), account(7, 1)))).unwrap();
    let version = tree.version().unwrap();
    let reader = JellyfishMerkleTree::<_, TreeHasher>::new(&tree);
    for i in (0..=255u8).step_by(5) {
        let key = KeyHash(account_key(&address(i)));
        let (value, theirs) = reader.get_with_proof(key, version).unwrap();
        let ours = proof_from_jmt(&theirs).unwrap();
        let root = tree.root();
        assert!(theirs
            .verify(RootHash(*root.as_bytes()), key, value.as_ref())
            .is_ok());
        assert_eq!(ours.verify_key(&root, &key.0, value.as_deref()), Ok(()));
        // And both refuse the same lie.
        let lie = Some(account_value(&account(8, 1)));
        assert!(theirs
            .verify(RootHash(*root.as_bytes()), key, lie.as_ref())
            .is_err());
        assert!(ours.verify_key(&root, &key.0, lie.as_deref()).is_err());
    }
}

#[test]
fn a_tampered_proof_names_what_does_not_match() {
    let accounts = (0..50).map(|i| (address(i), account(u64::from(i) * 10, 1)));
    let tree = MemoryTree::with_accounts(accounts).unwrap();
    let root = tree.root();
    let (found, proof) = tree.prove(&address(7)).unwrap();
    let found = found.unwrap();
    let mut bent = proof.clone();
    if let Some(sibling) = bent.siblings.first_mut() {
        sibling[0] ^= 1;
    }
    assert!(matches!(
        bent.verify(&root, &address(7), Some(&found)),
        Err(ProofError::RootMismatch { .. })
    ));
    assert_eq!(
        proof.verify(&root, &address(7), Some(&account(71, 1))),
        Err(ProofError::WrongAccount)
    );
    assert_eq!(
        proof.verify(&root, &address(8), Some(&found)),
        Err(ProofError::OtherAccountsLeaf)
    );
    assert_eq!(
        proof.verify(&root, &address(7), None),
        Err(ProofError::AccountShown)
    );
    let mut long = proof;
    long.siblings = vec![[0; 32]; 257];
    assert_eq!(
        long.verify(&root, &address(7), Some(&found)),
        Err(ProofError::TooManySiblings { count: 257 })
    );
    // A truncated encoding is refused by the decoder, not misread.
    let bytes = encoding::encode(&tree.prove(&address(7)).unwrap().1);
    let cut = bytes.get(..bytes.len() - 1).unwrap_or_default();
    assert!(encoding::decode::<AccountProof>(cut).is_err());
}

#[test]
fn a_proof_has_one_encoding() {
    // Two siblings, the second empty: bitmap 0b10, one hash written.
    let proof = AccountProof {
        leaf: None,
        siblings: vec![[7; 32], EMPTY_SUBTREE],
    };
    let bytes = encoding::encode(&proof);
    assert_eq!(bytes.len(), 1 + 8 + 1 + 32);
    assert_eq!(encoding::decode::<AccountProof>(&bytes).unwrap(), proof);
    // A bit set past the last sibling is refused.
    let mut stray = bytes.clone();
    stray[9] |= 0b100;
    assert!(encoding::decode::<AccountProof>(&stray).is_err());
    // So is an empty subtree written out instead of marked.
    let mut written = bytes[..9].to_vec();
    written.push(0);
    written.extend_from_slice(&[7; 32]);
    written.extend_from_slice(&EMPTY_SUBTREE);
    assert!(encoding::decode::<AccountProof>(&written).is_err());
}

/// One step: some accounts set or removed, then perhaps taken back (a reorg).
#[derive(Debug, Clone)]
struct Step {
    changes: Vec<(u8, Option<(u64, u64)>)>,
    revert: bool,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let change = (
        0u8..24,
        proptest::option::weighted(0.8, (0u64..1_000, 0u64..5)),
    );
    let step = (proptest::collection::vec(change, 1..8), any::<bool>())
        .prop_map(|(changes, revert)| Step { changes, revert });
    proptest::collection::vec(step, 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn the_root_is_the_accounts_and_every_proof_checks_through_changes_and_reverts(
        steps in steps()
    ) {
        let mut tree = MemoryTree::new();
        let mut model: BTreeMap<u8, Account> = BTreeMap::new();
        for step in steps {
            let before_root = tree.root();
            let before = model.clone();
            let changes: Vec<(Address, Option<Account>)> = step
                .changes
                .iter()
                .map(|(i, a)| (address(*i), a.map(|(b, n)| account(b, n))))
                .collect();
            for (i, a) in &step.changes {
                match a {
                    Some((b, n)) => model.insert(*i, account(*b, *n)),
                    None => model.remove(i),
                };
            }
            tree.apply(changes).unwrap();
            check_against_model(&tree, &model, 24);
            if tree.root() != before_root {
                // A proof under the new root fails under the one before it.
                let (found, proof) = tree.prove(&address(step.changes[0].0)).unwrap();
                prop_assert!(proof
                    .verify(&before_root, &address(step.changes[0].0), found.as_ref())
                    .is_err());
            }
            if step.revert {
                // Undo: every touched address back to what it held.
                let undo: Vec<(Address, Option<Account>)> = step
                    .changes
                    .iter()
                    .map(|(i, _)| (address(*i), before.get(i).copied()))
                    .collect();
                tree.apply(undo).unwrap();
                model = before;
                prop_assert_eq!(tree.root(), before_root, "a revert restores the root");
                check_against_model(&tree, &model, 24);
            }
        }
    }
}
