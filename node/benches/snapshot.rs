//! Joining by snapshot against joining in full, from the same three peers in one run.
//!
//! The generator makes a dev chain whose blocks create the accounts (1,000,000 accounts
//! over 20,000 blocks by default: 50 new accounts a block, paid by 50 senders), importing
//! it into a store as it goes; three real `tern node` processes serve copies of that
//! store. Then a fresh `tern node --sync snapshot` and a fresh `tern node` (full) join
//! from them, one after the other, and the bench prints for each the time until it is on
//! the peers' tip, and for the snapshot node the bytes it received against the state's
//! encoded size plus the headers (aim: at most 1.3 times), its peak memory (`VmHWM`)
//! against the bound on chunks held in memory, and the ratio of the two times (aim: the
//! snapshot at least 10 times shorter).
//!
//! `cargo bench -p tern-node --bench snapshot`; `TERN_BENCH_ACCOUNTS` and
//! `TERN_BENCH_BLOCKS` change the sizes. Prints figures; asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code,
    missing_docs
)]

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{Launch, NodeProcess};
use tern_chain::block::HEADER_LEN;
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::genesis::ChainSpec;
use tern_chain::miner::block_template;
use tern_chain::pow::search_nonce;
use tern_chain::state_map::chunk::{CHUNK_ACCOUNT_LEN, MAX_CHUNK_ACCOUNTS};
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, Amount, Timestamp};
use tern_p2p::sync::MAX_CHUNKS_IN_FLIGHT;
use tern_rpc::chain::TernApiClient;
use tern_rpc::net::TernNetApiClient;
use tern_state::chain::Chain;

/// Senders: each pays one new account per block.
const SENDERS: u32 = 50;
/// Peers the joining nodes sync from.
const PEERS: usize = 3;
/// How long a node may take to join before the bench gives up on it.
const PATIENCE: Duration = Duration::from_secs(3_600);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let accounts = env_or("TERN_BENCH_ACCOUNTS", 1_000_000);
    let blocks = env_or("TERN_BENCH_BLOCKS", 20_000).max(1);
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let started = Instant::now();
    let (tip_height, state_accounts) = generate(&source, accounts, blocks);
    println!(
        "generated {tip_height} blocks creating {accounts} accounts ({state_accounts} in the \
         state) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(join_both(dir.path(), &source, tip_height, state_accounts));
}

/// The senders' keys: dev accounts 0 to [`SENDERS`] - 1.
fn senders() -> Vec<SecretKey> {
    (0..SENDERS).map(dev_secret_key).collect()
}

/// The `i`th new account.
fn new_account(i: u64) -> Address {
    let mut bytes = [0x3c; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    Address::from_bytes(bytes)
}

/// Makes and imports the chain into a store at `dir`: a block funding the senders, then
/// blocks of transfers to new accounts. Transactions are signed on a thread of their own
/// while the chain imports. Returns the tip's height and the accounts in the state.
fn generate(dir: &Path, accounts: u64, blocks: u64) -> (u64, usize) {
    let spec = ChainSpec::resolve("dev").unwrap();
    let chain_id = spec.consensus.chain_id;
    let per_block = accounts.div_ceil(blocks).max(1);
    let keys = senders();
    let (blocks_out, blocks_in) = std::sync::mpsc::sync_channel::<Vec<SignedTransaction>>(64);
    let signer = std::thread::spawn(move || {
        let funder = &keys[0];
        let funding: Vec<_> = keys[1..]
            .iter()
            .zip(0u64..)
            .map(|(key, nonce)| {
                Transaction {
                    chain_id,
                    from: funder.address(),
                    to: key.address(),
                    amount: Amount::from_base_units(1_000_000_000_000),
                    fee: Amount::from_base_units(1),
                    nonce,
                }
                .sign(funder)
            })
            .collect();
        let funded = funding.len() as u64;
        if blocks_out.send(funding).is_err() {
            return;
        }
        let mut created = 0u64;
        let mut round = 0u64;
        while created < accounts {
            let count = per_block.min(accounts - created);
            let txs = (0..count)
                .map(|i| {
                    let sender = &keys[(i % u64::from(SENDERS)) as usize];
                    // One transfer per sender per block, so a sender's nonce is the round,
                    // plus the funding block's nonces for the funder.
                    let rounds_before =
                        round * per_block.div_ceil(u64::from(SENDERS)) + i / u64::from(SENDERS);
                    let nonce = rounds_before
                        + if i % u64::from(SENDERS) == 0 {
                            funded
                        } else {
                            0
                        };
                    Transaction {
                        chain_id,
                        from: sender.address(),
                        to: new_account(created + i),
                        amount: Amount::from_base_units(1),
                        fee: Amount::from_base_units(1),
                        nonce,
                    }
                    .sign(sender)
                })
                .collect();
            created += count;
            round += 1;
            if blocks_out.send(txs).is_err() {
                return;
            }
        }
    });
    let mut chain = Chain::open(dir, spec.clone()).unwrap();
    let miner = dev_secret_key(0).address();
    let mut when = spec.genesis_header().timestamp;
    let mut made = 0u64;
    let mut last_report = Instant::now();
    for txs in blocks_in {
        let tip = chain.tip();
        let parent = chain.reader().parent_context(&tip.hash).unwrap().unwrap();
        when = Timestamp(when.as_millis() + spec.consensus.block_time_ms);
        let template = block_template(&spec.consensus, &parent, txs, miner, when);
        let mut block = chain.seal(template).unwrap();
        block.header.nonce = search_nonce(&block.header, 0, u64::MAX).unwrap();
        let outcome = chain.submit_block(block, Timestamp::now()).unwrap();
        assert!(
            matches!(outcome.verdict, tern_state::chain::Verdict::Accepted),
            "{:?}",
            outcome.verdict
        );
        made += 1;
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            println!("  generating: {made} blocks");
        }
    }
    signer.join().unwrap();
    chain.flush().unwrap();
    let height = chain.tip().height().value();
    let state = chain.reader().all_accounts().unwrap().len();
    (height, state)
}

/// Copies a data directory (the store is closed).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// What one joining node took.
struct Joined {
    secs: f64,
    bytes_in: u64,
    peak_kib: u64,
}

async fn join_both(root: &Path, source: &Path, tip_height: u64, state_accounts: usize) {
    let mut peers = Vec::new();
    for i in 0..PEERS {
        let dir = root.join(format!("peer-{i}"));
        copy_dir(source, &dir);
        peers.push(NodeProcess::launch(&dir, &Launch::default()));
    }
    for peer in &peers {
        let height = peer.rpc.chain_info().await.unwrap().height;
        assert_eq!(height, tip_height);
    }
    let addrs: Vec<_> = peers.iter().map(|p| p.p2p).collect();
    let tip = peers[0].rpc.chain_info().await.unwrap().best_hash;

    let snapshot = join(
        &root.join("snapshot"),
        &addrs,
        &tip,
        &["--sync", "snapshot"],
    )
    .await;
    let full = join(&root.join("full"), &addrs, &tip, &[]).await;

    let state_bytes = state_accounts as u64 * CHUNK_ACCOUNT_LEN as u64;
    let header_bytes = tip_height * HEADER_LEN as u64;
    let bytes_aim = 1.3 * (state_bytes + header_bytes) as f64;
    let chunk_memory = (MAX_CHUNKS_IN_FLIGHT * MAX_CHUNK_ACCOUNTS * CHUNK_ACCOUNT_LEN) as u64;
    println!("\n{state_accounts} accounts, {tip_height} blocks, {PEERS} peers on loopback:");
    println!(
        "  full sync:      ready in {:>8.1} s, {:>7.1} MB received, peak {:>6} MiB",
        full.secs,
        full.bytes_in as f64 / 1e6,
        full.peak_kib / 1024
    );
    println!(
        "  snapshot sync:  ready in {:>8.1} s, {:>7.1} MB received, peak {:>6} MiB",
        snapshot.secs,
        snapshot.bytes_in as f64 / 1e6,
        snapshot.peak_kib / 1024
    );
    println!(
        "  time: snapshot {:.1}x shorter than full (aim: at least 10x)",
        full.secs / snapshot.secs
    );
    println!(
        "  bytes: {:.1} MB against the state's {:.1} MB plus headers' {:.1} MB: {:.2}x (aim: at most 1.3x)",
        snapshot.bytes_in as f64 / 1e6,
        state_bytes as f64 / 1e6,
        header_bytes as f64 / 1e6,
        snapshot.bytes_in as f64 / (state_bytes + header_bytes) as f64
    );
    let _ = bytes_aim;
    println!(
        "  memory: peak {} MiB; chunks held at most {} MiB ({MAX_CHUNKS_IN_FLIGHT} chunks of \
         {MAX_CHUNK_ACCOUNTS} accounts), whatever the number of accounts",
        snapshot.peak_kib / 1024,
        chunk_memory / (1 << 20)
    );
    drop(peers);
}

/// Starts a fresh node with `args` dialling `peers`, and waits until it is on `tip`.
async fn join(dir: &Path, peers: &[std::net::SocketAddr], tip: &str, args: &[&str]) -> Joined {
    let started = Instant::now();
    let log = dir.with_extension("log");
    std::fs::create_dir_all(dir).unwrap();
    let mut node = NodeProcess::launch(
        dir,
        &Launch {
            peers,
            args,
            log_file: Some(&log),
            ..Launch::default()
        },
    );
    let deadline = Instant::now() + PATIENCE;
    loop {
        let on_tip = node
            .rpc
            .chain_info()
            .await
            .is_ok_and(|info| info.best_hash == tip);
        if on_tip {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{args:?}: not on the tip in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let bytes_in = node
        .rpc
        .net_peers()
        .await
        .unwrap()
        .iter()
        .map(|peer| peer.bytes_in)
        .sum();
    let peak_kib = peak_kib(node.child.id());
    node.kill();
    Joined {
        secs,
        bytes_in,
        peak_kib,
    }
}

/// A process's peak resident memory (`VmHWM`), in KiB.
fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}
