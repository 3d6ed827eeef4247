//! Relay across a line of five nodes on loopback (A-B-C-D-E): how long a transaction and a
//! block take to reach the far end, and the bytes each transaction costs per link; then
//! full blocks: 1,000 transactions that every node already holds, mined at E, timed per
//! hop to A (aim: under 10 ms per hop at p99), with the bytes each block costs per link
//! against the whole block's size (aim: at most 10%, as compact blocks).
//!
//! Then two nodes whose one link carries 512 kbit/s each way: blocks of 640 transfers
//! both pools hold, mined at one, timed until the other connects them (aim: under 500 ms,
//! where the whole block needs 1.6 s on the wire). The first block is announced and asked
//! for; the next ones are pushed (high-bandwidth mode).
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
use tern_testnet::links::{Bandwidth, LinkProfile};
use tern_tests::net::{dev_spec, dev_transfer, line, linked, NodeOptions, TestNode};

const TRANSACTIONS: u64 = 1_000;
const SENDERS: u64 = 10;
const BLOCKS: usize = 50;
/// Rounds of the full-block phase: each fills every pool with 1,000 transactions, then
/// mines them into one block at E.
const FULL_BLOCKS: u64 = 30;
/// Submission pace: latency, not queueing, is what is measured.
const SUBMIT_INTERVAL: Duration = Duration::from_millis(4);
/// The slow link's speed, and the transfers each of its blocks carries.
const SLOW_LINK: &str = "512kbit";
const SLOW_BLOCK_TRANSACTIONS: u64 = 640;
const SLOW_BLOCKS: u64 = 6;

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

/// Submits round `round` of `count` transfers at `at` ([`SENDERS`] senders, each with the
/// nonces after its earlier rounds'), and waits until every pool of `nodes` holds them.
async fn fill_pools(nodes: &[TestNode], at: &TestNode, round: u64, count: u64) {
    let spec = dev_spec();
    let per_sender = count / SENDERS;
    let txs: Vec<_> = (0..count)
        .map(|i| {
            let nonce = round * per_sender + i / SENDERS;
            dev_transfer(&spec, (i % SENDERS) as u32, 9, 1 + i, nonce)
        })
        .collect();
    for verdict in at.node.pool().submit_many(txs).await {
        verdict.unwrap();
    }
    let everywhere = async {
        while nodes
            .iter()
            .any(|n| n.node.pool().stats().count < count as usize)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(120), everywhere)
        .await
        .expect("every pool holds the round's transactions");
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
    let mut full_latencies = Vec::new();
    let mut block_bytes = Vec::new();
    let mut whole_size = 0;
    for round in 1..=FULL_BLOCKS {
        fill_pools(&nodes, a, round, TRANSACTIONS).await;
        let before = bytes_sent(&nodes).await;
        let (hash, latency) = mine_at(e, reward, a).await;
        full_latencies.push(latency / links as u32);
        block_bytes.push((bytes_sent(&nodes).await - before) as f64 / links as f64);
        let held = e.node.chain().reader().block(&hash).unwrap().unwrap();
        assert_eq!(
            held.transactions.len(),
            TRANSACTIONS as usize,
            "a full block"
        );
        whole_size = held.encoded_len();
    }
    report(
        "block of 1,000 transactions every node holds, per hop (E->A / 4)",
        full_latencies,
    );
    let mean = block_bytes.iter().sum::<f64>() / block_bytes.len().max(1) as f64;
    println!(
        "bytes per block per link: {mean:.0} ({:.1}% of the {whole_size}-byte block; aim: at most 10%)",
        mean * 100.0 / whole_size as f64
    );
    for node in nodes {
        node.shutdown().await;
    }
    slow_link().await;
}

/// Two nodes over a 512 kbit/s link: blocks of 640 transfers both pools hold.
async fn slow_link() {
    let mut options = NodeOptions::dev();
    options.mempool = MempoolConfig {
        max_per_sender: 1_000,
        ..MempoolConfig::default()
    };
    let (links, nodes) = linked(2, options).await.unwrap();
    let bandwidth: Bandwidth = SLOW_LINK.parse().unwrap();
    let profile = LinkProfile {
        bandwidth: Some(bandwidth),
        ..LinkProfile::default()
    };
    links.set_profile(0, 1, profile);
    links.set_profile(1, 0, profile);
    let (a, b) = (&nodes[0], &nodes[1]);
    let reward = dev_secret_key(8).address();
    let mut times = Vec::new();
    let mut whole = Duration::ZERO;
    for round in 0..SLOW_BLOCKS {
        fill_pools(&nodes, a, round, SLOW_BLOCK_TRANSACTIONS).await;
        let (hash, latency) = mine_at(a, reward, b).await;
        let held = a.node.chain().reader().block(&hash).unwrap().unwrap();
        assert_eq!(held.transactions.len(), SLOW_BLOCK_TRANSACTIONS as usize);
        whole = bandwidth.time_to_send(held.encoded_len() as usize);
        println!(
            "  {SLOW_LINK} link, block {} of {SLOW_BLOCK_TRANSACTIONS} transfers: {:.0} ms{}",
            round + 1,
            latency.as_secs_f64() * 1e3,
            if round == 0 {
                " (announced, then asked for)"
            } else {
                " (pushed)"
            }
        );
        times.push(latency);
    }
    let pushed: Vec<Duration> = times.iter().skip(1).copied().collect();
    let mut sorted = pushed.clone();
    sorted.sort();
    println!(
        "block of {SLOW_BLOCK_TRANSACTIONS} transfers over {SLOW_LINK}, pushed: p50 {:.0} ms ({:.2}× the whole block's {:.0} ms on the wire; aim: under 500 ms)",
        percentile(&sorted, 0.5).as_secs_f64() * 1e3,
        percentile(&sorted, 0.5).as_secs_f64() / whole.as_secs_f64(),
        whole.as_secs_f64() * 1e3
    );
    for node in nodes {
        node.shutdown().await;
    }
}
