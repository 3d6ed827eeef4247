//! Fifty `tern node` processes on one machine, as `tern testnet` runs them: a random
//! topology (3 random seeds per node, then address gossip), every link 50 ms ± 20 ms each
//! way at 10 Mbit/s, no miner (blocks come when the benchmark asks, so each one is timed
//! alone).
//!
//! It measures, and prints with the limit each figure is held against:
//!
//! - **transaction propagation**: 40 transfers, each submitted to a random node while
//!   every node's `tx_subscribeStatus` waits for it; the time to reach 50% and 100% of
//!   the nodes, p50 and p99 over the transfers. The limit: relay takes three one-way trips
//!   a hop (announce, ask, deliver), so a node h hops away cannot have it before
//!   h × 3 × 50 ms.
//! - **block propagation**: 20 blocks of 640 transfers every node holds (submitted to the
//!   origin and relayed to every pool first), each mined (`dev_mine`) on a random node,
//!   seen on every node's `chain_subscribeHeads`; the same figures. The limit: a block
//!   pushed as a compact block takes one trip a hop, h × 50 ms; and the bytes each block
//!   costs a connection, against the whole block's size.
//! - **bytes per transaction per connection**, from the link layer's byte counts during
//!   the transfers, less the idle traffic (pings, address gossip) measured before. The
//!   limit: every node but the first must receive the transaction once.
//! - **memory per node** (resident set) and **CPU at idle**, from /proc. The limits: the
//!   machine's memory and cores.
//! - **convergence after a partition heals**: the network cut in two halves, two blocks
//!   mined on one side and one on the other, then healed; the time until every node is on
//!   the heavier tip (3 rounds).
//!
//! `cargo bench -p tern-node --bench testnet` (the nodes run the release build).
//! `TERN_BENCH_NODES=10` runs a smaller network for a quick look. Prints figures;
//! asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod figures;
mod net;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::Transaction;
use tern_chain::types::Amount;
use tern_rpc::chain::{HeadKind, TernApiClient, TxStatus};
use tern_rpc::mining::TernAdminApiClient;
use tokio::sync::mpsc;

use figures::{ms, percentile, reach, Topology};
use net::{cpu_time, machine_memory, resident_bytes, Testnet};

const NODES: usize = 50;
const TRANSFERS: usize = 40;
const BLOCKS: usize = 20;
const HEALS: usize = 3;
/// The links' mean one-way latency.
const LATENCY: Duration = Duration::from_millis(50);
/// One-way trips a transaction's relay hop takes: announce, ask, deliver.
const TX_TRIPS_PER_HOP: u32 = 3;
/// One-way trips a block's hop takes once peers push compact blocks.
const BLOCK_TRIPS_PER_HOP: u32 = 1;
/// Transfers in each timed block: the dev chain's ten funded accounts, each up to the
/// pool's 64 pending transactions per sender.
const BLOCK_TRANSFERS: u64 = 640;
/// How long any one thing may take to reach every node.
const PATIENCE: Duration = Duration::from_secs(60);
/// The idle window the background traffic and CPU are measured over.
const IDLE: Duration = Duration::from_secs(10);

/// A block connected on a node, as its heads subscription told.
struct Arrival {
    node: usize,
    hash: String,
    at: Instant,
}

/// When each node first connected each block.
#[derive(Default)]
struct Arrivals {
    seen: HashMap<String, HashMap<usize, Instant>>,
}

impl Arrivals {
    /// Takes what arrived, until every one of `nodes` has connected `hash` or `patience`
    /// passed. Returns the arrivals of `hash`.
    async fn wait_for(
        &mut self,
        events: &mut mpsc::UnboundedReceiver<Arrival>,
        hash: &str,
        nodes: &[usize],
        patience: Duration,
    ) -> HashMap<usize, Instant> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let have = self.seen.get(hash);
            if nodes
                .iter()
                .all(|n| have.is_some_and(|h| h.contains_key(n)))
            {
                break;
            }
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(arrival)) => {
                    self.seen
                        .entry(arrival.hash)
                        .or_default()
                        .entry(arrival.node)
                        .or_insert(arrival.at);
                }
                _ => break,
            }
        }
        self.seen.get(hash).cloned().unwrap_or_default()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let nodes: usize = std::env::var("TERN_BENCH_NODES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(NODES);
    let started = Instant::now();
    let net = Testnet::start(
        nodes,
        &[
            "--miners",
            "0",
            "--latency",
            "50ms",
            "--jitter",
            "20ms",
            "--seeds-per-node",
            "3",
            "--link-seed",
            "1",
            "--bandwidth",
            "10mbit",
        ],
    )
    .await;
    println!(
        "testnet: {nodes} nodes started in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mesh_took = wait_for_mesh(&net, nodes).await;
    let topology = Topology::from_links(&net.links().await, nodes);
    let (fewest, most) = topology.degree_range();
    println!(
        "topology: {} connections, {fewest} to {most} per node, diameter {} hops ({:.1} s to form)",
        topology.connections(),
        topology
            .diameter()
            .map_or("unbounded (not connected)".into(), |d| d.to_string()),
        mesh_took.as_secs_f64()
    );

    let (sender, mut events) = mpsc::unbounded_channel();
    for (node, ws) in net.nodes.iter().enumerate() {
        let mut heads = ws
            .chain_subscribe_heads(None)
            .await
            .expect("a heads subscription");
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = heads.next().await {
                if event.kind == HeadKind::Connect {
                    let arrival = Arrival {
                        node,
                        hash: event.header.hash,
                        at: Instant::now(),
                    };
                    if sender.send(arrival).is_err() {
                        return;
                    }
                }
            }
        });
    }
    let mut arrivals = Arrivals::default();
    let mut rng = ChaCha8Rng::seed_from_u64(1);

    let idle = idle(&net).await;
    let pids = net.node_pids();
    println!(
        "idle: {:.0} bytes/s across all links; the nodes use {:.1}% of the machine's {} cores",
        idle.bytes_per_sec,
        idle.cpu_share * 100.0,
        cores()
    );

    let transfers = transfers(&net, &topology, &mut rng, idle.bytes_per_sec).await;
    let blocks = blocks(
        &net,
        &topology,
        &mut rng,
        &mut arrivals,
        &mut events,
        idle.bytes_per_sec,
    )
    .await;
    let heals = heals(&net, &mut arrivals, &mut events).await;

    let resident: Vec<u64> = pids.iter().map(|pid| resident_bytes(*pid)).collect();
    let mean_rss = resident.iter().sum::<u64>() / resident.len().max(1) as u64;
    let max_rss = resident.iter().copied().max().unwrap_or(0);
    let machine = machine_memory();
    println!("\n== {nodes} nodes, links 50 ms ± 20 ms, 10 Mbit/s ==");
    println!("transactions:");
    transfers.reach.print(TX_TRIPS_PER_HOP);
    println!(
        "blocks of {BLOCK_TRANSFERS} transfers ({:.1}% of them in each pool when mined, on average):",
        blocks.held * 100.0
    );
    blocks.reach.print(BLOCK_TRIPS_PER_HOP);
    println!(
        "bytes per block per connection: {:.0} ({:.1}% of the {}-byte block)",
        blocks.bytes_per_connection,
        blocks.bytes_per_connection * 100.0 / blocks.size as f64,
        blocks.size
    );
    println!(
        "bytes per transaction per connection: {:.0} ({:.1}× the {}-byte transfer; all \
         links together carried {:.1}× what delivering it once to every node takes)",
        transfers.bytes_per_connection,
        transfers.bytes_per_connection / transfers.size as f64,
        transfers.size,
        transfers.total_ratio
    );
    println!(
        "memory per node: {:.1} MiB resident on average, {:.1} MiB at most ({} nodes; the \
         machine's {:.1} GiB would hold {} such nodes)",
        mean_rss as f64 / 1_048_576.0,
        max_rss as f64 / 1_048_576.0,
        resident.len(),
        machine as f64 / 1_073_741_824.0,
        machine / mean_rss.max(1)
    );
    println!(
        "cpu at idle: {:.1}% of {} cores for {} nodes ({:.2}% per node)",
        idle.cpu_share * 100.0,
        cores(),
        pids.len(),
        idle.cpu_share * 100.0 / pids.len().max(1) as f64
    );
    let heal_times: Vec<Duration> = heals.iter().flatten().copied().collect();
    println!(
        "convergence after a heal: {} (rounds: {})",
        ms(percentile(&heal_times, 0.5)),
        heals.iter().map(|h| ms(*h)).collect::<Vec<_>>().join(", ")
    );
    net.stop().await;
}

/// Waits until every node has at least 4 peers; returns how long that took.
async fn wait_for_mesh(net: &Testnet, nodes: usize) -> Duration {
    let start = Instant::now();
    let wanted = 4.min(nodes as u64 - 1);
    loop {
        let counts = net.peer_counts().await;
        if counts.len() == nodes && counts.iter().all(|c| *c >= wanted) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < PATIENCE * 3,
            "the nodes did not connect: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Idle {
    bytes_per_sec: f64,
    /// CPU the nodes used, as a share of every core of the machine.
    cpu_share: f64,
}

async fn idle(net: &Testnet) -> Idle {
    let pids = net.node_pids();
    let cpu = |pids: &[u32]| pids.iter().map(|p| cpu_time(*p)).sum::<Duration>();
    let (bytes_before, cpu_before, start) = (total_bytes(net).await, cpu(&pids), Instant::now());
    tokio::time::sleep(IDLE).await;
    let (bytes_after, cpu_after) = (total_bytes(net).await, cpu(&pids));
    let elapsed = start.elapsed().as_secs_f64();
    Idle {
        bytes_per_sec: bytes_after.saturating_sub(bytes_before) as f64 / elapsed,
        cpu_share: (cpu_after.saturating_sub(cpu_before)).as_secs_f64() / elapsed / cores() as f64,
    }
}

async fn total_bytes(net: &Testnet) -> u64 {
    net.links().await.iter().map(|l| l.bytes).sum()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Times to reach half and all of the nodes, and what the links allow.
#[derive(Default)]
struct Reach {
    half: Vec<Duration>,
    all: Vec<Duration>,
    /// Measured over the floor, per sample.
    half_ratio: Vec<f64>,
    all_ratio: Vec<f64>,
    missed: usize,
}

impl Reach {
    /// Adds a sample's arrival `times`, held against `trips` one-way trips a hop.
    fn add(
        &mut self,
        times: &[Duration],
        nodes: usize,
        topology: &Topology,
        origin: usize,
        trips: u32,
    ) {
        let floor = |share: f64| {
            topology
                .hops_to_reach(origin, share)
                .map(|hops| LATENCY * trips * hops as u32)
        };
        for (share, out, ratios) in [
            (0.5, &mut self.half, &mut self.half_ratio),
            (1.0, &mut self.all, &mut self.all_ratio),
        ] {
            match reach(times, share, nodes) {
                Some(time) => {
                    out.push(time);
                    if let Some(floor) = floor(share).filter(|f| !f.is_zero()) {
                        ratios.push(time.as_secs_f64() / floor.as_secs_f64());
                    }
                }
                None => self.missed += 1,
            }
        }
    }

    fn print(&self, trips: u32) {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        for (name, times, ratios) in [
            ("50% of nodes", &self.half, &self.half_ratio),
            ("100% of nodes", &self.all, &self.all_ratio),
        ] {
            println!(
                "  to {name}: p50 {}, p99 {} ({} samples; {:.2}× the links' floor of {trips} trip(s) × 50 ms a hop, on average)",
                ms(percentile(times, 0.5)),
                ms(percentile(times, 0.99)),
                times.len(),
                mean(ratios)
            );
        }
        if self.missed > 0 {
            println!(
                "  {} did not reach every node within {PATIENCE:?}",
                self.missed
            );
        }
    }
}

struct Transfers {
    reach: Reach,
    bytes_per_connection: f64,
    /// A transfer's encoded size.
    size: usize,
    /// The bytes all links carried over what one delivery to every other node takes.
    total_ratio: f64,
}

async fn transfers(
    net: &Testnet,
    topology: &Topology,
    rng: &mut ChaCha8Rng,
    idle_bytes_per_sec: f64,
) -> Transfers {
    let nodes = net.nodes.len();
    let spec = ChainSpec::resolve("dev").expect("the dev chain");
    let fee: u64 = net.nodes[0]
        .fee_estimate(1)
        .await
        .expect("a fee estimate")
        .fee
        .parse()
        .expect("a decimal fee");
    let mut reached = Reach::default();
    let mut size = 0;
    let (bytes_before, start) = (total_bytes(net).await, Instant::now());
    for i in 0..TRANSFERS {
        let sender = dev_secret_key(u32::try_from(i % 8).unwrap_or(0));
        let tx = Transaction {
            chain_id: spec.consensus.chain_id,
            from: sender.address(),
            to: dev_secret_key(9).address(),
            amount: Amount::from_base_units(1_000),
            fee: Amount::from_base_units(fee),
            nonce: (i / 8) as u64,
        }
        .sign(&sender);
        let encoded = encoding::encode(&tx);
        size = encoded.len();
        let txid = tx.id().to_string();
        let mut subscriptions = join_all(
            net.nodes
                .iter()
                .map(|ws| ws.tx_subscribe_status(txid.clone(), None)),
        )
        .await
        .into_iter()
        .map(|s| s.expect("a status subscription"))
        .collect::<Vec<_>>();
        let origin = (rng.next_u64() % nodes as u64) as usize;
        let submitted = Instant::now();
        net.nodes[origin]
            .tx_submit(hex::encode(&encoded))
            .await
            .expect("the transfer is accepted");
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let times: Vec<Duration> = join_all(subscriptions.iter_mut().map(|sub| async move {
            loop {
                match tokio::time::timeout_at(deadline, sub.next()).await {
                    Ok(Some(Ok(TxStatus::Pending { .. }))) => return Some(submitted.elapsed()),
                    Ok(Some(Ok(_))) => continue,
                    _ => return None,
                }
            }
        }))
        .await
        .into_iter()
        .flatten()
        .collect();
        reached.add(&times, nodes, topology, origin, TX_TRIPS_PER_HOP);
    }
    let carried = total_bytes(net).await.saturating_sub(bytes_before) as f64
        - idle_bytes_per_sec * start.elapsed().as_secs_f64();
    let connections = topology.connections().max(1) as f64;
    Transfers {
        reach: reached,
        bytes_per_connection: carried / TRANSFERS as f64 / connections,
        size,
        total_ratio: carried / TRANSFERS as f64 / (size * (nodes - 1)).max(1) as f64,
    }
}

struct Blocks {
    reach: Reach,
    bytes_per_connection: f64,
    /// A timed block's encoded size.
    size: usize,
    /// The share of a block's transfers the pools held when it was mined, on average.
    held: f64,
}

async fn blocks(
    net: &Testnet,
    topology: &Topology,
    rng: &mut ChaCha8Rng,
    arrivals: &mut Arrivals,
    events: &mut mpsc::UnboundedReceiver<Arrival>,
    idle_bytes_per_sec: f64,
) -> Blocks {
    let nodes = net.nodes.len();
    let everyone: Vec<usize> = (0..nodes).collect();
    let mut reached = Reach::default();
    let (mut block_bytes, mut size, mut held) = (0.0, 0, 0.0);
    for _ in 0..BLOCKS {
        let origin = (rng.next_u64() % nodes as u64) as usize;
        held += fill_pools(net, origin).await;
        let (bytes_before, start) = (total_bytes(net).await, Instant::now());
        let hashes = net.nodes[origin]
            .dev_mine(1, None)
            .await
            .expect("a dev block");
        let Some(hash) = hashes.first() else {
            continue;
        };
        let seen = arrivals.wait_for(events, hash, &everyone, PATIENCE).await;
        block_bytes += total_bytes(net).await.saturating_sub(bytes_before) as f64
            - idle_bytes_per_sec * start.elapsed().as_secs_f64();
        if let Ok(Some(block)) = net.nodes[origin]
            .chain_get_block(tern_rpc::chain::BlockId::Hash(hash.clone()), Some(false))
            .await
        {
            size = block.size as usize;
        }
        let Some(mined) = seen.get(&origin).copied() else {
            reached.missed += 1;
            continue;
        };
        let times: Vec<Duration> = seen
            .values()
            .map(|at| at.saturating_duration_since(mined))
            .collect();
        reached.add(&times, nodes, topology, origin, BLOCK_TRIPS_PER_HOP);
    }
    Blocks {
        reach: reached,
        bytes_per_connection: block_bytes / BLOCKS as f64 / topology.connections().max(1) as f64,
        size,
        held: held / BLOCKS as f64,
    }
}

/// Submits transfers from the ten dev accounts to `origin`, each up to the pool's bound
/// on a sender's pending transactions, and waits until every node's pool holds
/// [`BLOCK_TRANSFERS`] or the pools stop growing (a node refuses a transfer that arrives
/// ahead of its sender's previous one, and is not offered it again); returns the share
/// of the transfers the pools hold, on average.
async fn fill_pools(net: &Testnet, origin: usize) -> f64 {
    let spec = ChainSpec::resolve("dev").expect("the dev chain");
    let client = &net.nodes[origin];
    let fee: u64 = client
        .fee_estimate(1)
        .await
        .expect("a fee estimate")
        .fee
        .parse()
        .expect("a decimal fee");
    let per_sender = BLOCK_TRANSFERS / 10;
    for sender in 0..10u32 {
        let key = dev_secret_key(sender);
        let account = client
            .account_get(spec.format_address(&key.address()))
            .await
            .expect("an account");
        let pending = account.pending_nonce.saturating_sub(account.nonce);
        for nonce in
            account.pending_nonce..account.pending_nonce + per_sender.saturating_sub(pending)
        {
            let tx = Transaction {
                chain_id: spec.consensus.chain_id,
                from: key.address(),
                to: dev_secret_key(9).address(),
                amount: Amount::from_base_units(1_000),
                fee: Amount::from_base_units(fee),
                nonce,
            }
            .sign(&key);
            client
                .tx_submit(hex::encode(encoding::encode(&tx)))
                .await
                .expect("the transfer is accepted");
        }
    }
    let deadline = Instant::now() + PATIENCE;
    let mut last = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let counts: Vec<u64> = join_all(net.nodes.iter().map(|ws| ws.mempool_info()))
            .await
            .into_iter()
            .map(|info| info.map_or(0, |i| i.count as u64))
            .collect();
        let all = counts.iter().all(|c| *c >= BLOCK_TRANSFERS);
        if all || counts == last || Instant::now() >= deadline {
            let held: u64 = counts.iter().map(|c| (*c).min(BLOCK_TRANSFERS)).sum();
            return held as f64 / (BLOCK_TRANSFERS * counts.len().max(1) as u64) as f64;
        }
        last = counts;
    }
}

/// Per round, the time from the heal until every node was on the heavier side's tip.
async fn heals(
    net: &Testnet,
    arrivals: &mut Arrivals,
    events: &mut mpsc::UnboundedReceiver<Arrival>,
) -> Vec<Option<Duration>> {
    let nodes = net.nodes.len();
    let half = nodes / 2;
    let (left, right): (Vec<usize>, Vec<usize>) = ((0..half).collect(), (half..nodes).collect());
    let everyone: Vec<usize> = (0..nodes).collect();
    let mut rounds = Vec::new();
    for _ in 0..HEALS {
        net.control("testnet_partition", vec![json!([left, right])])
            .await;
        let heavier = last(net.nodes[0].dev_mine(2, None).await.expect("dev blocks"));
        let lighter = last(
            net.nodes[half]
                .dev_mine(1, None)
                .await
                .expect("a dev block"),
        );
        // Each side as far as its own connections carry its block (a random half need
        // not be connected within itself).
        arrivals
            .wait_for(events, &heavier, &left, Duration::from_secs(10))
            .await;
        arrivals
            .wait_for(events, &lighter, &right, Duration::from_secs(10))
            .await;
        let healed = Instant::now();
        net.control("testnet_heal", Vec::<Value>::new()).await;
        let seen = arrivals
            .wait_for(events, &heavier, &everyone, PATIENCE)
            .await;
        let all = seen.len() == nodes;
        rounds.push(
            all.then(|| {
                seen.values()
                    .map(|at| at.saturating_duration_since(healed))
                    .max()
            })
            .flatten(),
        );
    }
    rounds
}

fn last(hashes: Vec<String>) -> String {
    hashes.last().cloned().unwrap_or_default()
}
