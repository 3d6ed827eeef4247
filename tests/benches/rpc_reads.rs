//! RPC reads against the cost of a bare call: a real node (release build) answers 64
//! keep-alive HTTP connections, each making one call at a time, for `node_version` (which
//! reads nothing: the ceiling of the RPC stack) and then `account_get`, `chain_info`,
//! `chain_getBlock` and `tx_get` on the same connections; then the same over 64
//! WebSockets. For each it prints calls per
//! second, the ratio to the bare call's rate in the same round, and the node's CPU per
//! call: the process's CPU less that of the load generator's own threads (named `load`).
//! Then one connection's round trip, one call at a time: p50 and p99 for the bare call
//! and for `account_get`.
//!
//! Rounds: three unless `TERN_BENCH_ROUNDS` says otherwise; the last lines give the
//! medians, since one round on a shared machine can move by a third.
//!
//! With `TERN_BENCH_ANVIL` set to an `anvil` binary (`npm install @foundry-rs/anvil`),
//! the same client then floods anvil the same way (`web3_clientVersion` as its bare
//! call, `eth_getBalance`, `eth_blockNumber`), and prints Tern's rates as multiples of
//! anvil's, with anvil's CPU per call.
//! `cargo bench -p tern-tests --bench rpc_reads`; `TERN_BENCH_CALLS` sets the calls per
//! connection per method (default 500); `TERN_BENCH_ONLY=account_get` floods the bare
//! call and that one method alone (for a profile). Asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tern_chain::crypto::dev_secret_key;
use tern_chain::tx::Transaction;
use tern_chain::types::Amount;
use tern_tests::http::KeepAlive;
use tern_tests::net::{dev_spec, NodeOptions, TestNode};

#[path = "support/anvil.rs"]
mod anvil;
#[path = "support/load.rs"]
mod load;
use anvil::Anvil;
use load::{Connection, Transport};

const CONNECTIONS: usize = 64;
/// What the load generator's threads are named, to tell their CPU from the node's.
const LOAD_THREADS: &str = "load";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU seconds of this process's threads: the node's (every thread but the main one and
/// the load generator's) and the load generator's, from `/proc/self/task/*/stat`, whose
/// times are in the kernel's `USER_HZ` of 100 per second. Zero off Linux.
fn cpu_split() -> (f64, f64) {
    let main = std::process::id().to_string();
    let (mut node, mut load) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return (0.0, 0.0);
    };
    for task in tasks.filter_map(Result::ok) {
        if task.file_name().to_string_lossy() == main {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some((head, rest))) = (stat.find('('), stat.rsplit_once(')')) else {
            continue;
        };
        let name = head.get(open + 1..).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
        if name.starts_with(LOAD_THREADS) {
            load += seconds;
        } else {
            node += seconds;
        }
    }
    (node, load)
}

fn call(method: &str, params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#)
}

/// One method's figures in one round.
struct Figure {
    rate: f64,
    node_us_per_call: f64,
    load_us_per_call: f64,
}

/// `calls` calls of `body` on each of the connections to the node at `addr`, all at
/// once; `cpu` gives the CPU seconds of the server and of the load generator.
async fn flood(
    addr: SocketAddr,
    transport: Transport,
    body: &str,
    calls: usize,
    cpu: &dyn Fn() -> (f64, f64),
) -> Figure {
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(Connection::open(addr, transport).await);
    }
    let (node_before, load_before) = cpu();
    let started = Instant::now();
    let tasks: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let body = body.to_owned();
            tokio::spawn(async move {
                for _ in 0..calls {
                    let answer = connection.call(&body).await;
                    assert!(answer.contains("\"result\""), "{answer}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let time = started.elapsed().as_secs_f64();
    let (node_after, load_after) = cpu();
    let total = (calls * CONNECTIONS) as f64;
    Figure {
        rate: total / time,
        node_us_per_call: (node_after - node_before) * 1e6 / total,
        load_us_per_call: (load_after - load_before) * 1e6 / total,
    }
}

/// One connection, one call at a time: p50 and p99 of the round trip.
async fn round_trips(addr: SocketAddr, body: &str, calls: usize) -> (Duration, Duration) {
    let mut connection = KeepAlive::connect(addr).await.unwrap();
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        let (status, _) = connection.post_json(body).await.unwrap();
        times.push(started.elapsed());
        assert_eq!(status, 200);
    }
    times.sort();
    (times[calls / 2], times[calls * 99 / 100])
}

/// Floods anvil as Tern was flooded and prints Tern's medians (`tern`: the bare call,
/// `account_get`, `chain_info`, then one connection's `account_get` p50 in seconds) as
/// multiples of anvil's.
async fn against_anvil(binary: &str, calls: usize, rounds: usize, tern: [f64; 4]) {
    let anvil = Anvil::start(binary, &[]).await;
    let cpu = || (anvil.cpu_seconds(), 0.0);
    let balance = call(
        "eth_getBalance",
        r#"["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","latest"]"#,
    );
    let methods = [
        (
            "web3_clientVersion (bare)",
            call("web3_clientVersion", "[]"),
        ),
        ("eth_getBalance", balance.clone()),
        ("eth_blockNumber", call("eth_blockNumber", "[]")),
    ];
    println!("anvil ({binary}), the same client and connections:");
    let mut medians = Vec::new();
    for (name, body) in &methods {
        let mut figures = Vec::new();
        for _ in 0..rounds {
            figures.push(flood(anvil.addr, Transport::Http, body, calls, &cpu).await);
        }
        let rate = median(figures.iter().map(|f| f.rate).collect());
        let us = median(figures.iter().map(|f| f.node_us_per_call).collect());
        println!("  {name}: {rate:.0} calls/s, anvil CPU {us:.1} us a call");
        medians.push(rate);
    }
    let (p50, p99) = round_trips(anvil.addr, &balance, 2_000).await;
    println!(
        "  one connection, one call at a time, eth_getBalance: p50 {:.0} us, p99 {:.0} us",
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6
    );
    println!(
        "  Tern / anvil: bare call {:.2}x, account_get / eth_getBalance {:.2}x (aim: 1.2x), \
         chain_info / eth_blockNumber {:.2}x (aim: 1.2x); one connection's p50, account_get / \
         eth_getBalance: {:.2} (aim: at most 1)",
        tern[0] / medians[0],
        tern[1] / medians[1],
        tern[2] / medians[2],
        tern[3] / p50.as_secs_f64(),
    );
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let node_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("node")
        .enable_all()
        .build()
        .unwrap();
    let load_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(LOAD_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let mut options = NodeOptions::dev();
    options.rpc = true;
    let node = node_runtime.block_on(TestNode::start(options)).unwrap();
    // Two blocks of ten transfers: a block with transactions, a confirmed transaction.
    let txid = node_runtime.block_on(async {
        let mut last = None;
        for nonce in 0..2 {
            for i in 0..10u32 {
                let tx = Transaction {
                    chain_id: dev_spec().consensus.chain_id,
                    from: dev_secret_key(i).address(),
                    to: dev_secret_key((i + 1) % 10).address(),
                    amount: Amount::from_base_units(1_000),
                    fee: Amount::from_base_units(1_000),
                    nonce,
                }
                .sign(&dev_secret_key(i));
                last = Some(tx.id());
                node.node.pool().submit(tx).await.unwrap();
            }
            node.node
                .miner()
                .mine_now(1, Some(dev_secret_key(9).address()))
                .await
                .unwrap();
        }
        last.unwrap()
    });
    let addr = node.node.rpc_addr().unwrap();
    let account = dev_spec().format_address(&dev_secret_key(0).address());
    let methods = [
        ("node_version (bare)", call("node_version", "[]")),
        (
            "account_get",
            call("account_get", &format!(r#"["{account}"]"#)),
        ),
        ("chain_info", call("chain_info", "[]")),
        ("chain_getBlock", call("chain_getBlock", "[2, false]")),
        ("tx_get", call("tx_get", &format!(r#"["{txid}"]"#))),
    ];
    let only = std::env::var("TERN_BENCH_ONLY").ok();
    let methods: Vec<_> = methods
        .into_iter()
        .enumerate()
        .filter(|(i, (name, _))| *i == 0 || only.as_ref().is_none_or(|only| name == only))
        .map(|(_, method)| method)
        .collect();
    let calls = env_or("TERN_BENCH_CALLS", 500);
    let rounds = env_or("TERN_BENCH_ROUNDS", 3).max(1);
    println!(
        "{CONNECTIONS} keep-alive connections, one call in flight each, {calls} calls each per method"
    );
    load_runtime.block_on(async {
        let mut http_rates = [0.0; 3];
        for transport in Transport::BOTH {
            let label = transport.label();
            let mut table: Vec<Vec<Figure>> = methods.iter().map(|_| Vec::new()).collect();
            for round in 1..=rounds {
                println!("{label}, round {round} of {rounds}:");
                for ((name, body), figures) in methods.iter().zip(&mut table) {
                    let figure = flood(addr, transport, body, calls, &cpu_split).await;
                    println!(
                        "  {name}: {:.0} calls/s, node CPU {:.1} us a call (load generator {:.1} us)",
                        figure.rate, figure.node_us_per_call, figure.load_us_per_call
                    );
                    figures.push(figure);
                }
            }
            let bare = median(table[0].iter().map(|f| f.rate).collect());
            println!(
                "{label}, median of {rounds} rounds, each beside the bare call's {bare:.0} calls/s:"
            );
            for ((name, _), figures) in methods.iter().zip(&table) {
                let rate = median(figures.iter().map(|f| f.rate).collect());
                let cpu = median(figures.iter().map(|f| f.node_us_per_call).collect());
                println!(
                    "  {name}: {rate:.0} calls/s, {:.0}% of the bare call (aim: 70%), node CPU {cpu:.1} us a call",
                    100.0 * rate / bare
                );
                let compared = ["node_version (bare)", "account_get", "chain_info"];
                if let Some(i) = compared.iter().position(|c| c == name) {
                    if transport == Transport::Http {
                        http_rates[i] = rate;
                    }
                }
            }
        }
        let mut account_p50 = f64::NAN;
        let timed = ["node_version (bare)", "account_get"];
        for (name, body) in methods.iter().filter(|(name, _)| timed.contains(name)) {
            let (p50, p99) = round_trips(addr, body, 2_000).await;
            println!(
                "  one connection, one call at a time, {name}: p50 {:.0} us, p99 {:.0} us",
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
            if *name == "account_get" {
                account_p50 = p50.as_secs_f64();
            }
        }
        if let Ok(anvil) = std::env::var("TERN_BENCH_ANVIL") {
            let [bare, account, info] = http_rates;
            against_anvil(&anvil, calls, rounds, [bare, account, info, account_p50]).await;
        }
    });
    drop(load_runtime);
    node_runtime.block_on(node.node.shutdown());
}
