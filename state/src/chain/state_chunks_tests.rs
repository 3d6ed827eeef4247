//! Serving the state in chunks: a walk of every chunk at a kept block checks against
//! that block's header and gives back its accounts exactly, whatever the chain did since.

use super::tests::{dev, keys, miner, now};
use super::*;
use tern_chain::state::Account;
use tern_chain::state_map::chunk::KeyPrefix;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Amount, StateRoot};

/// Every account after `pivot`, chunk by chunk as a node joining by snapshot fetches
/// it (chunks of at most 64 accounts, so the walk goes through splits), sorted by address.
fn walk_state(
    reader: &ChainReader,
    pivot: &BlockHash,
    root: &StateRoot,
) -> Vec<(Address, Account)> {
    let walked = tern_chain::testkit::walk_chunks(root, |prefix| {
        reader.state_chunk(pivot, prefix, 64).unwrap()
    })
    .unwrap();
    assert!(walked.splits > 1, "the walk goes through splits");
    walked.accounts
}

#[test]
fn the_state_at_a_kept_block_is_served_in_chunks_that_check_whatever_the_chain_did_since() {
    let keys = keys();
    let mut allocations: Vec<(Address, Amount)> = keys
        .iter()
        .map(|key| (key.address(), Amount::from_base_units(1_000_000_000)))
        .collect();
    allocations.extend((0..3_000u32).map(|i| {
        let mut bytes = [0x5a; 32];
        bytes[..4].copy_from_slice(&i.to_le_bytes());
        (
            Address::from_bytes(bytes),
            Amount::from_base_units(u64::from(i) + 1),
        )
    }));
    let spec = dev().with_allocations(allocations).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec.clone()).unwrap();
    let mut builder = ChainBuilder::new(spec);
    let genesis = builder.genesis();

    // Blocks that create accounts next to existing ones, so leaves move down the tree.
    let mut tip = genesis;
    let mut pivots = vec![genesis];
    for round in 0..3u8 {
        let txs = (0..40u8)
            .map(|i| {
                let to = Address::from_bytes([round.wrapping_mul(41).wrapping_add(i); 32]);
                builder.transfer(&tip, &keys[0], to, 5, 1, u64::from(i))
            })
            .collect();
        let block = builder.child(&tip, txs, miner(round)).unwrap();
        tip = block.hash();
        chain.submit_block(block, now()).unwrap();
        pivots.push(tip);
    }
    let more = builder.extend(&tip, 3, &keys, 4, miner(9));
    for block in &more {
        chain.submit_block(block.clone(), now()).unwrap();
    }

    let reader = chain.reader();
    for pivot in &pivots {
        let header = builder.header(pivot).unwrap();
        let mut expected: Vec<_> = builder
            .state(pivot)
            .unwrap()
            .accounts()
            .map(|(a, account)| (*a, *account))
            .collect();
        expected.sort_by_key(|(address, _)| *address);
        assert_eq!(
            walk_state(&reader, pivot, &header.state_root),
            expected,
            "the state after block {}",
            header.height
        );
    }

    let side = builder.extend(&pivots[1], 1, &keys, 1, miner(7));
    chain.submit_block(side[0].clone(), now()).unwrap();
    let error = reader
        .state_chunk(&side[0].hash(), &KeyPrefix::root(), 64)
        .unwrap_err();
    assert!(matches!(error, ChunkQueryError::NotCanonical(_)), "{error}");
}
