//! Restoring a snapshot: a fresh store fed the chunks another node serves, across a
//! restart, ends with that node's state at the pivot and goes on from it; each wrong
//! step is refused by name and writes nothing.

use super::tests::{dev, keys, miner, now};
use super::*;
use crate::store::schema::{SnapshotPieces, StateTree};
use tern_chain::block::Header;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Amount};

/// The dev chain with 3,000 more funded accounts, so the state comes in many chunks.
fn spec() -> ChainSpec {
    let keys = keys();
    let mut allocations: Vec<(Address, Amount)> = keys
        .iter()
        .map(|key| (key.address(), Amount::from_base_units(1_000_000_000)))
        .collect();
    allocations.extend((0..3_000u32).map(|i| {
        let mut bytes = [0x33; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        (
            Address::from_bytes(bytes),
            Amount::from_base_units(u64::from(i) + 1),
        )
    }));
    dev().with_allocations(allocations).unwrap()
}

/// A source chain of 4 blocks paying new accounts, and its builder.
fn source(dir: &std::path::Path) -> (Chain, ChainBuilder, Vec<Block>) {
    let spec = spec();
    let mut chain = Chain::open(dir, spec.clone()).unwrap();
    let mut builder = ChainBuilder::new(spec);
    let keys = keys();
    let mut tip = builder.genesis();
    let mut blocks = Vec::new();
    for round in 0..4u8 {
        let txs = (0..20u8)
            .map(|i| {
                let to = Address::from_bytes([round.wrapping_mul(23).wrapping_add(i); 32]);
                builder.transfer(&tip, &keys[1], to, 3, 1, u64::from(i))
            })
            .collect();
        let block = builder.child(&tip, txs, miner(round)).unwrap();
        tip = block.hash();
        chain.submit_block(block.clone(), now()).unwrap();
        blocks.push(block);
    }
    (chain, builder, blocks)
}

/// Restores chunks served by `from` at `pivot` into `into` until at most `stop_after`
/// are written (all when `None`); returns how many were written.
fn restore_from(
    from: &ChainReader,
    into: &mut Chain,
    pivot: &BlockHash,
    stop_after: Option<usize>,
) -> usize {
    let mut written = 0;
    let mut wanted: Vec<KeyPrefix> = into
        .snapshot_progress()
        .unwrap()
        .unwrap()
        .wanted
        .into_iter()
        .map(|(prefix, _)| prefix)
        .collect();
    while let Some(prefix) = wanted.pop() {
        if stop_after.is_some_and(|stop| written >= stop) {
            break;
        }
        let chunk = from.state_chunk(pivot, &prefix, 64).unwrap();
        let restored = into.restore_chunk(&prefix, &chunk).unwrap();
        assert!(!restored.duplicate);
        wanted.extend(restored.wanted.into_iter().map(|(prefix, _)| prefix));
        written += 1;
    }
    written
}

fn headers_to(blocks: &[Block], pivot: usize) -> Vec<Header> {
    blocks[..=pivot].iter().map(|b| b.header).collect()
}

#[test]
fn a_restored_snapshot_is_the_served_state_across_a_restart_and_the_chain_goes_on() {
    let source_dir = tempfile::tempdir().unwrap();
    let (served, mut builder, blocks) = source(source_dir.path());
    let pivot = &blocks[2];
    let pivot_hash = pivot.hash();

    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    chain.begin_snapshot(&pivot.header).unwrap();
    let first = restore_from(&served.reader(), &mut chain, &pivot_hash, Some(5));
    assert_eq!(first, 5);

    // A restart goes on from the pieces written.
    drop(chain);
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    let progress = chain.snapshot_progress().unwrap().unwrap();
    assert_eq!(progress.pivot, pivot_hash);
    assert_eq!(progress.pieces, 5);
    assert!(!progress.wanted.is_empty());
    let rest = restore_from(&served.reader(), &mut chain, &pivot_hash, None);
    assert!(rest > 0);

    let tip = chain.finish_snapshot(&headers_to(&blocks, 2)).unwrap();
    assert_eq!(tip.hash, pivot_hash);
    assert!(chain.snapshot_progress().unwrap().is_none());
    assert_eq!(
        chain
            .writes
            .store()
            .scan_all::<SnapshotPieces>()
            .unwrap()
            .len(),
        0,
        "the pieces' records are gone"
    );

    // Every account is the pivot's, and the tree commits to them.
    let expected = builder.state(&pivot_hash).unwrap();
    let mut held = chain.reader().all_accounts().unwrap();
    held.sort_by_key(|(address, _)| *address);
    let mut wanted: Vec<_> = expected.accounts().map(|(a, x)| (*a, *x)).collect();
    wanted.sort_by_key(|(address, _)| *address);
    assert_eq!(held, wanted);
    let (recorded, in_tree) = chain.reader().state_root(&pivot_hash).unwrap().unwrap();
    assert_eq!(recorded, pivot.header.state_root);
    assert_eq!(in_tree, Some(recorded));

    // The chain goes on from the pivot, and survives a restart there.
    drop(chain);
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    assert_eq!(chain.tip().hash, pivot_hash);
    let outcome = chain.submit_block(blocks[3].clone(), now()).unwrap();
    assert_eq!(outcome.verdict, Verdict::Accepted);
    assert_eq!(chain.tip().hash, blocks[3].hash());
    let proven = chain
        .reader()
        .account_proof(&miner(3), &blocks[3].hash())
        .unwrap();
    proven
        .proof
        .verify(&proven.root, &miner(3), proven.account.as_ref())
        .unwrap();
    assert_eq!(chain.floor(), pivot.header.height);
    let report = check_store(&chain.reader()).unwrap();
    assert_eq!((report.floor, report.height), (Height(3), Height(4)));

    // A heavier branch forking below the floor is stored, never followed: there is no
    // state below the pivot to disconnect with.
    let side = builder.extend(&blocks[0].hash(), 5, &keys(), 1, miner(8));
    for block in &side {
        chain.submit_block(block.clone(), now()).unwrap();
    }
    assert_eq!(chain.tip().hash, blocks[3].hash());
}

#[test]
fn each_wrong_step_of_a_restore_is_refused_and_writes_nothing() {
    let source_dir = tempfile::tempdir().unwrap();
    let (served, _, blocks) = source(source_dir.path());
    let pivot = &blocks[1];
    let pivot_hash = pivot.hash();
    let reader = served.reader();

    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    let root = KeyPrefix::root();
    let chunk = reader.state_chunk(&pivot_hash, &root, 64).unwrap();
    assert!(matches!(
        chain.restore_chunk(&root, &chunk),
        Err(SnapshotError::NotRestoring)
    ));
    chain.begin_snapshot(&pivot.header).unwrap();
    assert!(matches!(
        chain.begin_snapshot(&blocks[0].header),
        Err(SnapshotError::OtherPivot(_))
    ));

    // A block while restoring waits, blaming nobody.
    let outcome = chain.submit_block(blocks[0].clone(), now()).unwrap();
    assert!(matches!(
        outcome.verdict,
        Verdict::Rejected(Rejection::Restoring { .. })
    ));

    // Another pivot's root split, or a subtree nobody asked for.
    let other = reader.state_chunk(&blocks[3].hash(), &root, 64).unwrap();
    assert!(matches!(
        chain.restore_chunk(&root, &other),
        Err(SnapshotError::Invalid { .. })
    ));
    let below = root.child(4).unwrap();
    let chunk_below = reader.state_chunk(&pivot_hash, &below, 64).unwrap();
    assert!(matches!(
        chain.restore_chunk(&below, &chunk_below),
        Err(SnapshotError::NotAsked(_))
    ));
    assert_eq!(chain.snapshot_progress().unwrap().unwrap().pieces, 0);

    let restored = chain.restore_chunk(&root, &chunk).unwrap();
    assert!(!restored.wanted.is_empty());
    assert!(chain.restore_chunk(&root, &chunk).unwrap().duplicate);
    // A forged subtree: an account dropped from an honest chunk.
    let (prefix, _) = restored.wanted[0].clone();
    let Chunk::Accounts(mut accounts) = reader.state_chunk(&pivot_hash, &prefix, 4_096).unwrap()
    else {
        panic!("a child of the root split holds few accounts");
    };
    accounts.pop();
    assert!(matches!(
        chain.restore_chunk(&prefix, &Chunk::Accounts(accounts)),
        Err(SnapshotError::Invalid { .. })
    ));
    assert!(matches!(
        chain.finish_snapshot(&headers_to(&blocks, 1)),
        Err(SnapshotError::Incomplete { .. })
    ));
    restore_from(&reader, &mut chain, &pivot_hash, None);
    assert!(matches!(
        chain.finish_snapshot(&headers_to(&blocks, 2)),
        Err(SnapshotError::Headers(_))
    ));
    assert!(matches!(
        chain.finish_snapshot(&blocks[1..=1].iter().map(|b| b.header).collect::<Vec<_>>()),
        Err(SnapshotError::Headers(_))
    ));
    chain.finish_snapshot(&headers_to(&blocks, 1)).unwrap();
    assert!(matches!(
        chain.begin_snapshot(&blocks[2].header),
        Err(SnapshotError::NotFresh(_))
    ));
}

#[test]
fn an_abandoned_snapshot_leaves_the_store_as_new_and_another_pivot_restores_whole() {
    let source_dir = tempfile::tempdir().unwrap();
    let (served, builder, blocks) = source(source_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    let genesis_accounts = chain.reader().all_accounts().unwrap();
    let genesis_nodes = chain.writes.store().scan_all::<StateTree>().unwrap().len();

    let first = blocks[1].hash();
    chain.begin_snapshot(&blocks[1].header).unwrap();
    restore_from(&served.reader(), &mut chain, &first, Some(8));
    chain.abandon_snapshot().unwrap();
    assert!(chain.snapshot_progress().unwrap().is_none());
    assert_eq!(chain.reader().all_accounts().unwrap(), genesis_accounts);
    assert_eq!(
        chain.writes.store().scan_all::<StateTree>().unwrap().len(),
        genesis_nodes,
        "no restored node is left"
    );

    // A restart after the undoing finds a store as new, and another pivot restores whole.
    drop(chain);
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    assert!(chain.snapshot_progress().unwrap().is_none());
    let second = blocks[2].hash();
    chain.begin_snapshot(&blocks[2].header).unwrap();
    restore_from(&served.reader(), &mut chain, &second, None);
    chain.finish_snapshot(&headers_to(&blocks, 2)).unwrap();
    let mut held = chain.reader().all_accounts().unwrap();
    held.sort_by_key(|(address, _)| *address);
    let mut wanted: Vec<_> = builder
        .state(&second)
        .unwrap()
        .accounts()
        .map(|(a, x)| (*a, *x))
        .collect();
    wanted.sort_by_key(|(address, _)| *address);
    assert_eq!(held, wanted);
    check_store(&chain.reader()).unwrap();
}

#[test]
fn an_undoing_interrupted_by_a_restart_is_finished_at_open() {
    let source_dir = tempfile::tempdir().unwrap();
    let (served, _, blocks) = source(source_dir.path());
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec()).unwrap();
    let genesis_accounts = chain.reader().all_accounts().unwrap();
    let pivot = blocks[1].hash();
    chain.begin_snapshot(&blocks[1].header).unwrap();
    restore_from(&served.reader(), &mut chain, &pivot, Some(6));
    // As if the undoing had begun and the process died right after its first batch.
    let mut batch = chain.writes.batch();
    batch.put::<Meta>(&MetaKey::SnapshotAbandoning, &MetaValue::from_u64(1));
    chain.writes.write(batch).unwrap();
    chain.writes.settle().unwrap();
    drop(chain);
    let chain = Chain::open(dir.path(), spec()).unwrap();
    assert!(chain.snapshot_progress().unwrap().is_none());
    assert_eq!(chain.reader().all_accounts().unwrap(), genesis_accounts);
}
