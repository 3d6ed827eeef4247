//! Pruning: a chain with a prune depth keeps bodies, undo records and indexes for its
//! last blocks only, raising its floor; it still reorganises above the floor, refuses
//! to go below it, and its store checks sound.

use super::tests::{dev, keys, miner, now};
use super::*;
use crate::store::schema::{AddressHistory, HistoryKey, TxIndex, Undo};
use tern_chain::testkit::ChainBuilder;

#[test]
fn a_pruned_chain_keeps_its_last_blocks_and_raises_its_floor() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), dev()).unwrap().with_prune_depth(4);
    let mut builder = ChainBuilder::new(dev());
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, 12, &keys(), 2, miner(1));
    for block in &blocks {
        chain.submit_block(block.clone(), now()).unwrap();
    }
    // Tip 12, depth 4: bodies from 9 on; the floor is 8.
    assert_eq!(chain.floor(), Height(8));
    let reader = chain.reader();
    assert_eq!(reader.floor().unwrap(), Height(8));
    for block in &blocks {
        let hash = block.hash();
        let kept = block.header.height > Height(8);
        assert_eq!(
            reader.block(&hash).unwrap().is_some(),
            kept,
            "{}",
            block.header.height
        );
        assert_eq!(chain.writes.get::<Undo>(&hash).unwrap().is_some(), kept);
        assert!(reader.header(&hash).unwrap().is_some(), "headers stay");
        for tx in &block.transactions {
            let indexed = chain.writes.store().get::<TxIndex>(&tx.id()).unwrap();
            assert_eq!(indexed.is_some(), kept);
            let key = HistoryKey {
                address: tx.tx().from,
                height: block.header.height,
                position: 0,
            };
            if block.transactions.first().map(|t| t.id()) == Some(tx.id()) {
                let history = chain.writes.store().get::<AddressHistory>(&key).unwrap();
                assert_eq!(history.is_some(), kept);
            }
        }
    }
    check_store(&chain.reader()).unwrap();

    // A reorg above the floor still works; one below it is refused.
    let side = builder.extend(&blocks[9].hash(), 4, &keys(), 1, miner(2));
    for block in &side {
        chain.submit_block(block.clone(), now()).unwrap();
    }
    assert_eq!(chain.tip().hash, side[3].hash(), "a reorg of depth 2");
    let deep = builder.extend(&blocks[2].hash(), 16, &[], 0, miner(3));
    for block in &deep {
        chain.submit_block(block.clone(), now()).unwrap();
    }
    assert_eq!(chain.tip().hash, side[3].hash(), "not below the floor");

    // The floor survives a restart.
    drop(reader);
    drop(chain);
    let chain = Chain::open(dir.path(), dev()).unwrap();
    assert!(chain.floor() >= Height(8));
}
