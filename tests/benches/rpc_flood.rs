//! A wallet flood over RPC: a real node (release build) takes pre-signed transfers from
//! 63 keep-alive connections, about 500 senders with 40 nonces each, every sender on one
//! connection so its nonces arrive in order; each round floods over HTTP, then over
//! WebSocket (the next nonces). Meanwhile a 64th connection reads an account over HTTP
//! every few milliseconds. Then everything accepted is mined.
//!
//! First the same connections make as many calls to a method that does almost nothing,
//! for the rate of the RPC stack alone. Prints that rate, the transactions accepted per
//! second and their ratio to it, the account read's latency percentiles,
//! and how many of the accepted transactions the following blocks hold (all of them).
//!
//! The flood's limit on this machine is measured in the same run: the two cores pay for
//! the RPC stack (the bare rate) and for the signatures (Tern's batch verification of the
//! same transactions, 64 per batch, the most that 64 connections with one call each can
//! put in a batch, on every core), so no `tx_submit` flood beats
//! `1 / (1 / bare + 1 / verification)`. The ratio to that limit is what admission's own
//! costs leave; the CPU the process used in each phase is printed too. A second limit
//! uses the batches the flood really made (the node's admission counters): with each
//! connection waiting for its verdict, only the calls in admission at the same moment
//! share a batch, far fewer than 64, and a small batch costs more per signature.
//!
//! The flood runs in rounds (three unless `TERN_BENCH_ROUNDS` says otherwise), each with
//! its own bare calls, transfers (the next nonces of the same senders), mining and
//! limits, and the last line gives the medians: on a shared machine one round's figures
//! can move by a third from one minute to the next.
//! With `TERN_BENCH_ANVIL` set to an `anvil` binary (`npm install @foundry-rs/anvil`),
//! the same client then floods `anvil --no-mining` the same way (as many senders and
//! nonces, each sender on one connection, Ethereum transfers signed beforehand and sent
//! with `eth_sendRawTransaction`), and prints Tern's median rate as a multiple of anvil's.
//!
//! `cargo bench -p tern-tests --bench rpc_flood`; `TERN_BENCH_SENDERS` and
//! `TERN_BENCH_NONCES` change the sizes. Asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::encoding;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Amount, TxId};
use tern_mempool::MempoolConfig;
use tern_tests::http::KeepAlive;
use tern_tests::net::{dev_spec, NodeOptions, TestNode};

#[path = "support/anvil.rs"]
mod anvil;
#[path = "support/load.rs"]
mod load;
use anvil::{Anvil, EthKey};
use load::{Connection, Transport};

/// Submitting connections: with the account reader's, the 64 that one address may hold
/// (`ConnectionLimits::max_per_ip`).
const CONNECTIONS: usize = 63;
/// Pause between two account reads on the reader's connection.
const READ_INTERVAL: Duration = Duration::from_millis(5);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn transfer(key: &SecretKey, to: &SecretKey, amount: u64, nonce: u64) -> SignedTransaction {
    Transaction {
        chain_id: dev_spec().consensus.chain_id,
        from: key.address(),
        to: to.address(),
        amount: Amount::from_base_units(amount),
        fee: Amount::from_base_units(1_000),
        nonce,
    }
    .sign(key)
}

fn submit_body(tx: &SignedTransaction) -> String {
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tx_submit","params":["{}"]}}"#,
        hex::encode(encoding::encode(tx))
    )
}

/// CPU seconds this process has used, user and system, from `/proc/self/stat` (whose
/// times are in the kernel's fixed `USER_HZ` of 100 per second); `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some((ticks(11)? + ticks(12)?) as f64 / 100.0)
}

/// Cores busy and CPU microseconds per call over a phase of `calls` calls in `time`.
fn cpu_line(what: &str, since: Option<f64>, calls: usize, time: Duration) {
    if let (Some(before), Some(now)) = (since, cpu_seconds()) {
        let used = now - before;
        println!(
            "  CPU during {what}: {:.2} cores busy, {:.1} us per call",
            used / time.as_secs_f64(),
            used * 1e6 / calls as f64
        );
    }
}

/// Signatures per second of Tern's batch verification over `txs`, `per_batch` per batch,
/// one batch per core at once.
fn verification_rate(txs: &[SignedTransaction], per_batch: usize) -> f64 {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let chunks: Vec<&[SignedTransaction]> = txs.chunks(per_batch.max(1)).collect();
    let started = Instant::now();
    std::thread::scope(|scope| {
        for part in chunks.chunks(chunks.len().div_ceil(threads)) {
            scope.spawn(move || {
                for chunk in part {
                    tern_chain::tx::verify_signatures(chunk.iter()).unwrap();
                }
            });
        }
    });
    txs.len() as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Mines until the pool is empty; returns the blocks mined.
async fn mine_out(node: &TestNode) -> usize {
    let mut blocks = 0;
    while node.node.pool().stats().count > 0 {
        blocks += node
            .node
            .miner()
            .mine_now(1, Some(dev_secret_key(9).address()))
            .await
            .unwrap()
            .len();
    }
    blocks
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
    let senders = env_or("TERN_BENCH_SENDERS", 500);
    let nonces = env_or("TERN_BENCH_NONCES", 40) as u64;
    let mut options = NodeOptions::dev();
    options.rpc = true;
    options.mempool = MempoolConfig {
        max_count: 200_000,
        max_bytes: 256 << 20,
        max_per_sender: nonces as usize + 8,
        max_nonce_gap: nonces,
        ..MempoolConfig::default()
    };
    let node = TestNode::start(options).await.unwrap();

    // Fund the senders from the ten dev accounts.
    let keys: Vec<SecretKey> = (0..senders as u32)
        .map(|i| dev_secret_key(1_000 + i))
        .collect();
    let mut funding_nonce = [0u64; 10];
    for (i, key) in keys.iter().enumerate() {
        let from = i % 10;
        let tx = transfer(
            &dev_secret_key(from as u32),
            key,
            1 << 30,
            funding_nonce[from],
        );
        funding_nonce[from] += 1;
        node.node.pool().submit(tx).await.unwrap();
        if node.node.pool().stats().count >= 200 {
            mine_out(&node).await;
        }
    }
    mine_out(&node).await;

    let rounds = env_or("TERN_BENCH_ROUNDS", 3).max(1);
    let mut figures: Vec<(Transport, Round)> = Vec::with_capacity(2 * rounds);
    for round in 0..rounds {
        for (t, transport) in Transport::BOTH.into_iter().enumerate() {
            println!("round {} of {rounds}, {}:", round + 1, transport.label());
            let first_nonce = (2 * round + t) as u64 * nonces;
            let figure = flood_round(&node, &keys, transport, first_nonce, nonces).await;
            figures.push((transport, figure));
        }
    }
    let median = |transport: Transport, of: fn(&Round) -> f64| {
        let mut values: Vec<f64> = figures
            .iter()
            .filter(|(t, _)| *t == transport)
            .map(|(_, r)| of(r))
            .collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for transport in Transport::BOTH {
        println!(
            "{}, median of {rounds} rounds: {:.0} tx/s accepted, {:.0}% of the bare call's rate, \
             {:.0}% of the limit, {:.0}% of the limit at the flood's own batch size; \
             account_get p99 at most {:.1} ms",
            transport.label(),
            median(transport, |r| r.submit_rate),
            median(transport, |r| r.of_bare),
            median(transport, |r| r.of_limit),
            median(transport, |r| r.of_own_limit),
            figures
                .iter()
                .filter(|(t, _)| *t == transport)
                .map(|(_, r)| r.account_p99.as_secs_f64() * 1e3)
                .fold(0.0, f64::max),
        );
    }
    node.shutdown().await;
    if let Ok(binary) = std::env::var("TERN_BENCH_ANVIL") {
        let anvil = anvil_flood(&binary, senders, nonces, rounds).await;
        println!(
            "Tern over HTTP / anvil --no-mining, tx_submit / eth_sendRawTransaction: {:.2}x (aim: 3x)",
            median(Transport::Http, |r| r.submit_rate) / anvil
        );
    }
}

/// Floods `anvil --no-mining` as Tern was flooded, `rounds` times; the median of the
/// rates at which it accepted the transfers.
async fn anvil_flood(binary: &str, senders: usize, nonces: u64, rounds: usize) -> f64 {
    let anvil = Anvil::start(binary, &["--no-mining"]).await;
    let keys: Vec<EthKey> = (0..senders as u64).map(EthKey::from_seed).collect();
    for key in &keys {
        // 10^24 wei.
        let params = format!(r#"["{}","0xd3c21bcecceda1000000"]"#, key.address_hex());
        anvil.call("anvil_setBalance", &params).await;
    }
    let recipient = EthKey::from_seed(u64::MAX).address;
    let mut rates = Vec::with_capacity(rounds);
    for round in 0..rounds {
        println!("anvil, round {} of {rounds}: signing...", round + 1);
        let mut lanes: Vec<Vec<String>> = vec![Vec::new(); CONNECTIONS];
        let first_nonce = round as u64 * nonces;
        for nonce in first_nonce..first_nonce + nonces {
            for (i, key) in keys.iter().enumerate() {
                let raw = key.transfer(nonce, &recipient, 1, 2_000_000_000);
                lanes[i % CONNECTIONS].push(format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
                    hex::encode(raw)
                ));
            }
        }
        let total: usize = lanes.iter().map(Vec::len).sum();
        let addr = anvil.addr;
        let cpu_before = anvil.cpu_seconds();
        let started = Instant::now();
        let connections: Vec<_> = lanes
            .into_iter()
            .map(|lane| {
                tokio::spawn(async move {
                    let mut connection = KeepAlive::connect(addr).await.unwrap();
                    for body in lane {
                        let (status, answer) = connection.post_json(&body).await.unwrap();
                        assert_eq!(status, 200);
                        assert!(answer.contains("\"result\""), "refused: {answer}");
                    }
                })
            })
            .collect();
        for connection in connections {
            connection.await.unwrap();
        }
        let time = started.elapsed().as_secs_f64();
        let rate = total as f64 / time;
        println!(
            "  accepted {total} transfers in {time:.2} s: {rate:.0} tx/s, anvil CPU {:.1} us each",
            (anvil.cpu_seconds() - cpu_before) * 1e6 / total as f64
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// What one round of the flood measured.
struct Round {
    submit_rate: f64,
    /// Percent of the bare call's rate on the same connections.
    of_bare: f64,
    /// Percent of the limit with batches of 64.
    of_limit: f64,
    /// Percent of the limit with batches of the size this round made.
    of_own_limit: f64,
    account_p99: Duration,
}

/// One flood of `nonces` transfers per sender from `first_nonce` on, after as many bare
/// calls, and the mining of everything accepted.
async fn flood_round(
    node: &TestNode,
    keys: &[SecretKey],
    transport: Transport,
    first_nonce: u64,
    nonces: u64,
) -> Round {
    let senders = keys.len();
    let addr = node.node.rpc_addr().unwrap();
    println!("signing {senders} senders x {nonces} nonces...");
    let recipient = dev_secret_key(8);
    // Each call with the end of the answer that accepts it, both formatted beforehand:
    // the client shares the node's two cores.
    let mut lanes: Vec<Vec<(TxId, String, String)>> = vec![Vec::new(); CONNECTIONS];
    let mut signed = Vec::with_capacity(senders * nonces as usize);
    for nonce in first_nonce..first_nonce + nonces {
        for (i, key) in keys.iter().enumerate() {
            let tx = transfer(key, &recipient, 1, nonce);
            let accepted = format!(r#""result":"{}"}}"#, tx.id());
            lanes[i % CONNECTIONS].push((tx.id(), submit_body(&tx), accepted));
            signed.push(tx);
        }
    }
    let total: usize = lanes.iter().map(Vec::len).sum();

    // The same calls' count, connections and pattern, to a method that does almost
    // nothing: what the RPC stack itself costs (HTTP, JSON, the middleware), the floor
    // under any `tx_submit` rate.
    let bare_body = r#"{"jsonrpc":"2.0","id":1,"method":"mempool_info","params":[]}"#;
    let per_connection = total.div_ceil(CONNECTIONS);
    // Opened once: a WebSocket's slot is not given up to a new client, and the address's
    // share (64) holds these and the reader's.
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(Connection::open(addr, transport).await);
    }
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let bare: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            tokio::spawn(async move {
                for _ in 0..per_connection {
                    let answer = connection.call(bare_body).await;
                    assert!(answer.contains("\"result\""), "{answer}");
                }
                connection
            })
        })
        .collect();
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for task in bare {
        connections.push(task.await.unwrap());
    }
    let bare_time = started.elapsed();
    let bare_rate = (per_connection * CONNECTIONS) as f64 / bare_time.as_secs_f64();
    println!("bare calls (mempool_info), same connections and count: {bare_rate:.0} calls/s");
    cpu_line(
        "the bare calls",
        cpu_before,
        per_connection * CONNECTIONS,
        bare_time,
    );

    let flooding = Arc::new(AtomicBool::new(true));
    let reader = {
        let flooding = Arc::clone(&flooding);
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"account_get","params":["{}"]}}"#,
            dev_spec().format_address(&keys[0].address())
        );
        tokio::spawn(async move {
            let mut connection = KeepAlive::connect(addr).await.unwrap();
            let mut latencies = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                let started = Instant::now();
                let (status, answer) = connection.post_json(&body).await.unwrap();
                latencies.push(started.elapsed());
                assert_eq!(status, 200, "{answer}");
                tokio::time::sleep(READ_INTERVAL).await;
            }
            latencies
        })
    };

    let batching_before = node.node.pool().admission_stats();
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let connections: Vec<_> = lanes
        .into_iter()
        .zip(connections)
        .map(|(lane, mut connection)| {
            tokio::spawn(async move {
                let mut accepted = Vec::with_capacity(lane.len());
                for (id, body, accepted_answer) in lane {
                    let answer = connection.call(&body).await;
                    assert!(answer.ends_with(&accepted_answer), "refused: {answer}");
                    accepted.push(id);
                }
                accepted
            })
        })
        .collect();
    let mut accepted = Vec::with_capacity(total);
    for connection in connections {
        accepted.extend(connection.await.unwrap());
    }
    let flood = started.elapsed();
    cpu_line("the flood", cpu_before, accepted.len(), flood);
    let batching = node.node.pool().admission_stats();
    let batches = batching.batches - batching_before.batches;
    let mean_batch = (batching.transactions - batching_before.transactions) as f64 / batches as f64;
    flooding.store(false, Ordering::Relaxed);
    let mut latencies = reader.await.unwrap();
    latencies.sort();

    let blocks = mine_out(node).await;
    let reader = node.node.chain().reader();
    let mined = accepted
        .iter()
        .filter(|id| reader.transaction(id).unwrap().is_some())
        .count();

    println!(
        "accepted {} of {total} transfers from {CONNECTIONS} connections in {:.2} s: {:.0} tx/s",
        accepted.len(),
        flood.as_secs_f64(),
        accepted.len() as f64 / flood.as_secs_f64()
    );
    let submit_rate = accepted.len() as f64 / flood.as_secs_f64();
    println!(
        "tx_submit rate / bare call rate: {:.0}%",
        100.0 * submit_rate / bare_rate
    );
    // After the flood, so that the node met every key for the first time.
    let verification = verification_rate(&signed, 64);
    let limit = 1.0 / (1.0 / bare_rate + 1.0 / verification);
    println!(
        "limit: bare calls and batch verification (64 per batch, every core, {verification:.0} sig/s) \
         on the same cores: {limit:.0} tx/s; tx_submit reaches {:.0}% of it",
        100.0 * submit_rate / limit
    );
    // The batches this flood's closed loop actually made: each connection waits for its
    // verdict, so only the calls in admission at once can share a batch.
    let own_batch = mean_batch.round() as usize;
    let own_verification = verification_rate(&signed, own_batch);
    let own_limit = 1.0 / (1.0 / bare_rate + 1.0 / own_verification);
    println!(
        "admission took {batches} batches, {mean_batch:.1} transactions each on average; \
         the limit at {own_batch} per batch ({own_verification:.0} sig/s): {own_limit:.0} tx/s; \
         tx_submit reaches {:.0}% of it",
        100.0 * submit_rate / own_limit
    );
    println!(
        "account_get during the flood: n={} p50={:.1} ms p99={:.1} ms max={:.1} ms",
        latencies.len(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
    println!(
        "mined {mined} of the {} accepted in {blocks} blocks",
        accepted.len()
    );
    assert_eq!(mined, accepted.len(), "nothing accepted is dropped");
    Round {
        submit_rate,
        of_bare: 100.0 * submit_rate / bare_rate,
        of_limit: 100.0 * submit_rate / limit,
        of_own_limit: 100.0 * submit_rate / own_limit,
        account_p99: percentile(&latencies, 0.99),
    }
}
