//! Relay across a line of five nodes on loopback (A-B-C-D-E): how long a transaction and a
//! block take to reach the far end, and the bytes each transaction costs per link; then
//! full blocks: 1,000 transactions that every node already holds, mined at E, timed per
//! hop to A (the aim: under 10 ms per hop at p99).
//!
//! `cargo bench -p tern-tests --bench relay` prints the figures; `docs/PERFORMANCE.md`
//! records them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tern_chain::crypto::dev_secret_key;
use tern_chain::types::{Address, BlockHash};
use tern_mempool::MempoolConfig;
use tern_tests::net::{dev_spec, dev_transfer, line, NodeOptions, TestNode};

const TRANSACTIONS: u64 = 1_000;
const SENDERS: u64 = 10;
const BLOCKS: usize = 50;
/// Rounds of the full-block phase: each fills every pool with 1,000 transactions, then
/// mines them into one block at E.
const FULL_BLOCKS: u64 = 30;
/// Submission pace: latency, not queueing, is what is measured.
const SUBMIT_INTERVAL: Duration = Duration::from_millis(4);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "{what}: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        samples.len(),
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn bytes_sent(nodes: &[TestNode]) -> u64 {
    let mut total = 0;
    for node in nodes {
        for peer in node.node.network().peers().await.unwrap() {
            total += peer.stats.bytes_out.load(Ordering::Relaxed);
        }
    }
    total
}

/// Mines one block at `miner` and times it from being connected there to being connected
/// at `far`.
async fn mine_at(miner: &TestNode, reward: Address, far: &TestNode) -> (BlockHash, Duration) {
    let mut tip = far.node.chain().watch_tip();
    let mined = miner.node.miner().mine_now(1, Some(reward)).await.unwrap();
    let hash = *mined.last().unwrap();
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(30), tip.wait_for(|t| t.hash == hash))
        .await
        .expect("the block reaches the far end")
        .unwrap();
    (hash, started.elapsed())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run());
}

async fn run() {
    let mut options = NodeOptions::dev();
    options.mempool = MempoolConfig {
        max_per_sender: 1_000,
        ..MempoolConfig::default()
    };
    let nodes = line(5, options).await.unwrap();
    let spec = dev_spec();
    let (a, e) = (&nodes[0], &nodes[4]);
    let links = (nodes.len() - 1) as u64;

    // Transactions: stamp each at submission to A and at admission at E.
    let mut arrivals = e.node.pool().subscribe_admitted();
    let collector = tokio::spawn(async move {
        let mut seen = HashMap::new();
        while seen.len() < TRANSACTIONS as usize {
            match arrivals.recv().await {
                Ok(id) => {
                    seen.insert(id, Instant::now());
                }
                Err(_) => break,
            }
        }
        seen
    });
    let before = bytes_sent(&nodes).await;
    let mut submitted = HashMap::new();
    let mut ticker = tokio::time::interval(SUBMIT_INTERVAL);
    for i in 0..TRANSACTIONS {
        ticker.tick().await;
        let tx = dev_transfer(&spec, (i % SENDERS) as u32, 9, 1 + i, i / SENDERS);
        submitted.insert(tx.id(), Instant::now());
        a.node.pool().submit(tx).await.unwrap();
    }
    let arrived = tokio::time::timeout(Duration::from_secs(60), collector)
        .await
        .expect("every transaction reaches E")
        .unwrap();
    // Let the last announcements settle before counting bytes.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tx_bytes = bytes_sent(&nodes).await - before;
    let latencies: Vec<Duration> = arrived
        .iter()
        .map(|(id, at)| at.duration_since(submitted[id]))
        .collect();
    report("transaction A->E (4 hops)", latencies);
    println!(
        "bytes per transaction per link: {:.0} (all messages both ways; a signed transaction is 156 bytes)",
        tx_bytes as f64 / TRANSACTIONS as f64 / links as f64
    );

    // Blocks: mined at E, timed until A's tip is the block.
    let reward = dev_secret_key(8).address();
    let mut block_latencies = Vec::new();
    for _ in 0..BLOCKS {
        block_latencies.push(mine_at(e, reward, a).await.1);
    }
    report(
        "block E->A (4 hops, first one carries the 1,000 transactions)",
        block_latencies,
    );

    // Full blocks whose transactions every node holds: the relay path a block takes on a
    // live network, where transactions travel ahead of the blocks that carry them.
    let per_sender = TRANSACTIONS / SENDERS;
    let mut full_latencies = Vec::new();
    for round in 1..=FULL_BLOCKS {
        let txs: Vec<_> = (0..TRANSACTIONS)
            .map(|i| {
                let nonce = round * per_sender + i / SENDERS;
                dev_transfer(&spec, (i % SENDERS) as u32, 9, 1 + i, nonce)
            })
            .collect();
        for verdict in a.node.pool().submit_many(txs).await {
            verdict.unwrap();
        }
        let everywhere = async {
            while nodes
                .iter()
                .any(|n| n.node.pool().stats().count < TRANSACTIONS as usize)
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), everywhere)
            .await
            .expect("every pool holds the round's transactions");
        let (hash, latency) = mine_at(e, reward, a).await;
        full_latencies.push(latency / links as u32);
        let held = e.node.chain().reader().block(&hash).unwrap().unwrap();
        assert_eq!(
            held.transactions.len(),
            TRANSACTIONS as usize,
            "a full block"
        );
    }
    report(
        "block of 1,000 transactions every node holds, per hop (E->A / 4)",
        full_latencies,
    );
    for node in nodes {
        node.shutdown().await;
    }
}
