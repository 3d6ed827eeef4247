//! A network split and its healing: six nodes cut into 2 + 4 by the link layer (as `tern
//! testnet partition` cuts one: the connections stay open and hold their bytes), both
//! sides take a branch of their own, the two nodes on the branch with more work (fewer
//! blocks) win once the cut heals, and a transaction only the losing side had included
//! goes back to the pool and is mined again.
//!
//! The branches are built with the testkit, their timestamps chosen: the small side's
//! five blocks come ahead of the chain's schedule (harder, more work each) and the large
//! side's seven behind it, so which branch has more work is settled before the test
//! runs, not by how fast this machine mines.

use std::time::Duration;

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{BlockHash, Work};
use tern_testnet::links::Partition;
use tern_tests::net::{dev_transfer, linked, NodeOptions, TestNode};

const PATIENCE: Duration = Duration::from_secs(60);

/// The dev chain with a genesis of now, a 500 ms block time and a 1 s difficulty half
/// life, and a start target below the maximum: blocks ahead of schedule carry more work
/// than blocks behind it, so a chain can have more work with fewer blocks.
fn split_spec() -> ChainSpec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../genesis/dev.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let now = tern_chain::types::Timestamp::now().as_millis();
    json["name"] = "tern-split-test".into();
    json["timestamp_ms"] = now.into();
    json["target_block_time_ms"] = 500.into();
    json["difficulty_half_life_ms"] = 1_000.into();
    json["initial_target"] =
        "0000ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff".into();
    ChainSpec::from_json(&json.to_string(), "split test").unwrap()
}

/// `count` blocks after genesis, `spacing_ms` apart, the first holding `first`.
fn branch(
    builder: &mut ChainBuilder,
    count: usize,
    spacing_ms: u64,
    first: Vec<tern_chain::tx::SignedTransaction>,
) -> Vec<Block> {
    builder.spacing_ms = spacing_ms;
    let reward = dev_secret_key(9).address();
    let mut parent = builder.genesis();
    let mut first = Some(first);
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        let block = builder
            .child(&parent, first.take().unwrap_or_default(), reward)
            .unwrap();
        parent = block.hash();
        blocks.push(block);
    }
    blocks
}

fn work(blocks: &[Block]) -> Work {
    blocks.iter().fold(Work::default(), |sum, b| {
        sum.saturating_add(b.header.target.work())
    })
}

async fn wait_for_tip(nodes: &[&TestNode], tip: BlockHash) {
    for node in nodes {
        assert!(
            node.reaches_tip(tip, PATIENCE).await,
            "a node did not reach {tip}: at {:?}, {}",
            node.node.chain().tip().height(),
            node.node.chain().tip().hash
        );
    }
}

async fn take(node: &TestNode, blocks: &[Block]) {
    for block in blocks {
        node.node.chain().submit_block(block.clone()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_split_converges_on_the_side_with_more_work() {
    let spec = split_spec();
    let tx = dev_transfer(&spec, 3, 4, 12_345, 0);
    let txid = tx.id();
    let mut builder = ChainBuilder::new(spec.clone());
    // Five blocks 100 ms apart, ahead of the 500 ms schedule; seven 700 ms apart, behind
    // it, the first with the transfer.
    let small_branch = branch(&mut builder, 5, 100, vec![]);
    let large_branch = branch(&mut builder, 7, 700, vec![tx]);
    assert!(
        work(&small_branch) > work(&large_branch),
        "the set-up: the shorter branch must have more work"
    );

    let mut options = NodeOptions::dev().with_outbound_target(5);
    options.spec = spec.clone();
    let (links, nodes) = linked(6, options).await.unwrap();
    for node in &nodes {
        assert!(
            node.reaches_peers(5, PATIENCE).await,
            "a node did not get to 5 peers"
        );
    }

    // Every connection crosses the layer: none rides the outsiders' link, which no cut
    // holds.
    assert_eq!(links.outside_connections(), 0);

    // The cut: every link between the sides holds its bytes from now on.
    let partition = Partition::try_from(vec![vec![0, 1], vec![2, 3, 4, 5]]).unwrap();
    links.partition(&partition);
    let crossing_bytes = || -> u64 {
        let crossings = partition.crossings();
        links
            .report()
            .iter()
            .filter(|link| crossings.contains(&(link.from, link.to)))
            .map(|link| link.bytes)
            .sum()
    };
    let before = crossing_bytes();
    let (small, large) = nodes.split_at(2);
    take(&small[0], &small_branch).await;
    take(&large[0], &large_branch).await;
    let small_tip = small_branch.last().unwrap().hash();
    let large_tip = large_branch.last().unwrap().hash();
    wait_for_tip(&small.iter().collect::<Vec<_>>(), small_tip).await;
    wait_for_tip(&large.iter().collect::<Vec<_>>(), large_tip).await;
    for node in large {
        assert!(node
            .node
            .chain()
            .reader()
            .transaction(&txid)
            .unwrap()
            .is_some());
    }

    assert_eq!(crossing_bytes(), before, "a byte crossed the cut");
    for node in large {
        let small_tip_there = node.node.chain().reader().index_entry(&small_tip).unwrap();
        assert!(small_tip_there.is_none(), "the small side's branch crossed");
    }

    // Heal: the held bytes flow, and both sides see the other's branch.
    links.heal();
    let all: Vec<&TestNode> = nodes.iter().collect();
    wait_for_tip(&all, small_tip).await;

    // The large side's transaction is back in its pools, and is mined again.
    assert!(
        large[0].has_pending(txid, PATIENCE).await,
        "the reorged-out transaction did not return to the pool"
    );
    // ...and is announced again: the winning side, which never saw it, gets it too.
    assert!(
        small[0].has_pending(txid, PATIENCE).await,
        "the returned transaction was not relayed to the winning side"
    );
    let reward = dev_secret_key(9).address();
    let confirmed = *large[0]
        .node
        .miner()
        .mine_now(1, Some(reward))
        .await
        .unwrap()
        .last()
        .unwrap();
    wait_for_tip(&all, confirmed).await;
    for node in &nodes {
        let info = node.node.chain().reader().transaction(&txid).unwrap();
        assert_eq!(info.map(|i| i.block), Some(confirmed));
    }
    assert!(nodes[0].peer_count().await >= 1);
    for node in nodes {
        node.shutdown().await;
    }
    links.shutdown().await;
}
