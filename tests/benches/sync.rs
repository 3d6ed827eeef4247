//! Sync rate of a fresh node from three peers on loopback, against the local import rate
//! of the same blocks measured in the same run.
//!
//! `cargo bench -p tern-tests --bench sync` prints the figures; `docs/PERFORMANCE.md`
//! records them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::{Duration, Instant};

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::testkit::ChainBuilder;
use tern_tests::net::{dev_spec, NodeOptions, TestNode};

const BLOCKS: usize = 200;
const TXS_PER_BLOCK: usize = 1_000;
const SOURCES: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

fn chain() -> Vec<Block> {
    // 1,000 senders, so every block can carry 1,000 transfers (one nonce each per block).
    let keys: Vec<_> = (0..TXS_PER_BLOCK as u32 + 1).map(dev_secret_key).collect();
    let mut builder = ChainBuilder::new(dev_spec());
    let genesis = builder.genesis();
    // Dev accounts past the ten funded ones start empty: fund them in the first block.
    let funder = &keys[0];
    let mut blocks = Vec::new();
    let mut tip = genesis;
    let funding: Vec<_> = keys[1..]
        .iter()
        .zip(0u64..)
        .map(|(key, pending)| {
            builder.transfer(&tip, funder, key.address(), 10_000_000, 1_000, pending)
        })
        .collect();
    for chunk in funding.chunks(TXS_PER_BLOCK) {
        let block = builder
            .child(&tip, chunk.to_vec(), dev_secret_key(0).address())
            .unwrap();
        tip = block.hash();
        blocks.push(block);
    }
    blocks.extend(builder.extend(
        &tip,
        BLOCKS - blocks.len(),
        &keys[1..],
        TXS_PER_BLOCK,
        dev_secret_key(0).address(),
    ));
    blocks
}

async fn import(node: &TestNode, blocks: &[Block]) -> Duration {
    let started = Instant::now();
    for block in blocks {
        node.node.chain().submit_block(block.clone()).await.unwrap();
    }
    started.elapsed()
}

fn rate(what: &str, blocks: &[Block], took: Duration) -> f64 {
    let txs: usize = blocks.iter().map(|b| b.transactions.len()).sum();
    let per_sec = blocks.len() as f64 / took.as_secs_f64();
    println!(
        "{what}: {} blocks, {txs} transactions in {:.2} s: {per_sec:.1} blocks/s, {:.0} tx/s",
        blocks.len(),
        took.as_secs_f64(),
        txs as f64 / took.as_secs_f64()
    );
    per_sec
}

async fn run() {
    let blocks = chain();
    assert_eq!(blocks.len(), BLOCKS);
    let tip = blocks.last().unwrap().hash();
    let mut sources = Vec::new();
    let mut import_rate = 0.0;
    for i in 0..SOURCES {
        let node = TestNode::start(NodeOptions::dev()).await.unwrap();
        let took = import(&node, &blocks).await;
        if i == 0 {
            import_rate = rate("local import into a fresh node", &blocks, took);
        }
        sources.push(node);
    }
    let seeds: Vec<_> = sources.iter().map(TestNode::p2p_addr).collect();
    let started = Instant::now();
    let fresh = TestNode::start(
        NodeOptions::dev()
            .with_seeds(&seeds)
            .with_outbound_target(SOURCES),
    )
    .await
    .unwrap();
    let mut tips = fresh.node.chain().watch_tip();
    tokio::time::timeout(Duration::from_secs(600), tips.wait_for(|t| t.hash == tip))
        .await
        .expect("the fresh node syncs")
        .unwrap();
    let sync_rate = rate(
        &format!("sync of a fresh node from {SOURCES} peers"),
        &blocks,
        started.elapsed(),
    );
    println!(
        "sync rate / local import rate: {:.0}%",
        100.0 * sync_rate / import_rate
    );
    drop(tips);
    fresh.shutdown().await;
    for node in sources {
        node.shutdown().await;
    }
}
