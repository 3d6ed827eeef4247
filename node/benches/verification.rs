//! Verification end to end, each stage against the ceiling measured in the same run on the
//! same transactions: the library's raw batch verification rate on all cores.
//!
//! For 10 senders and for 10,000 distinct senders it prints:
//!
//! - **ceiling**: ed25519-zebra's batch equation alone, 1,024 signatures per batch, one
//!   batch per core at once, no pre-checks, no signing messages built;
//! - **verification alone**: Tern's own signature checks of each block in turn, split
//!   across the cores as the import runs them, with nothing else running: the cold
//!   import's bound;
//! - **cold import**: every block into a fresh store through the chain actor, nothing
//!   cached, as a syncing node imports;
//! - **admission**: the same transactions through the node's real admission path
//!   (`PoolHandle`: batching, the signature cache, account reads, the pool's lock), as a
//!   peer relays them (bursts of 256) and as RPC submits them (one transaction per call,
//!   64 callers at once, each sender's nonces in order by one caller);
//! - **warm import**: the same blocks, pipelined as in the cold import, into a fresh store
//!   whose signature cache is the one admission filled: blocks whose transactions arrived
//!   first, as a node that follows the network imports them.
//!
//! Run with `cargo bench -p tern-node --bench verification`. `TERN_BENCH_BLOCKS` and
//! `TERN_BENCH_TXS` change the sizes (default 20 blocks of 1,000 transfers). Prints
//! figures; asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::SeedableRng;
use tern_chain::block::Block;
use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::genesis::ChainSpec;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::testkit::ChainBuilder;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount};
use tern_mempool::PoolHandle;
use tern_mempool::{FeeRate, MempoolConfig};
use tern_state::chain::{
    self, Chain, ChainHandle, QueuedBlock, Verdict, QUEUE_AHEAD, VERIFY_AHEAD,
};
use tern_tasks::TaskManager;

/// RPC callers at once, as the RPC benchmark's keep-alive connections.
const RPC_CALLERS: usize = 64;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn threads() -> usize {
    std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1)
}

/// The dev chain with `senders` funded accounts (dev keys `0..senders`).
fn spec_with(senders: u32) -> (ChainSpec, Vec<SecretKey>) {
    let keys: Vec<SecretKey> = (0..senders).map(dev_secret_key).collect();
    let spec = ChainSpec::resolve("dev")
        .unwrap()
        .with_allocations(
            keys.iter()
                .map(|k| (k.address(), Amount::from_base_units(1 << 40)))
                .collect(),
        )
        .unwrap();
    (spec, keys)
}

/// Transactions per second of ed25519-zebra's batch equation over `txs`, 1,024 per batch,
/// on every core: the ceiling.
fn ceiling(txs: &[SignedTransaction]) -> f64 {
    let prepared: Vec<(
        ed25519_zebra::VerificationKeyBytes,
        ed25519_zebra::Signature,
        Vec<u8>,
    )> = txs
        .iter()
        .map(|t| {
            (
                ed25519_zebra::VerificationKeyBytes::from(*t.tx().from.as_bytes()),
                ed25519_zebra::Signature::from_bytes(t.signature().as_bytes()),
                t.signing_message(),
            )
        })
        .collect();
    let chunks: Vec<_> = prepared.chunks(1_024).collect();
    let threads = threads();
    let rounds = 3;
    let started = Instant::now();
    for _ in 0..rounds {
        std::thread::scope(|scope| {
            for part in chunks.chunks(chunks.len().div_ceil(threads)) {
                scope.spawn(move || {
                    for chunk in part {
                        let mut batch = ed25519_zebra::batch::Verifier::new();
                        for (key, signature, message) in chunk.iter() {
                            batch.queue((*key, *signature, message.as_slice()));
                        }
                        batch
                            .verify(rand_chacha::ChaCha20Rng::from_seed([7; 32]))
                            .unwrap();
                    }
                });
            }
        });
    }
    (rounds * txs.len()) as f64 / started.elapsed().as_secs_f64()
}

/// A fresh store and its chain actor, with its own signature cache or `cache`.
fn fresh_chain(
    spec: &ChainSpec,
    cache: Option<Arc<SignatureCache>>,
) -> (tempfile::TempDir, ChainHandle) {
    let dir = tempfile::tempdir().unwrap();
    let mut opened = Chain::open(dir.path(), spec.clone()).unwrap();
    if let Some(cache) = cache {
        opened = opened.with_signature_cache(cache);
    }
    let (handle, _thread) = chain::spawn(opened).unwrap();
    (dir, handle)
}

/// Imports `blocks` in order as the node's block worker does: up to [`VERIFY_AHEAD`]
/// blocks' signatures are verified ahead while the actor checks the ones before, and up
/// to [`QUEUE_AHEAD`] blocks wait at the actor, so one block's write overlaps the next
/// one's checks.
async fn import_all(chain: &ChainHandle, blocks: &[Block]) -> Duration {
    let started = Instant::now();
    let mut queued = VecDeque::with_capacity(QUEUE_AHEAD);
    let mut verifying: VecDeque<_> = blocks
        .iter()
        .take(VERIFY_AHEAD)
        .map(|b| chain.verify_ahead(b))
        .collect();
    for (i, block) in blocks.iter().enumerate() {
        if let Some(verified) = verifying.pop_front() {
            verified.await.unwrap();
        }
        if queued.len() == QUEUE_AHEAD {
            accepted(queued.pop_front()).await;
        }
        queued.push_back(chain.queue_block(block.clone()).await);
        if let Some(next) = blocks.get(i + VERIFY_AHEAD) {
            verifying.push_back(chain.verify_ahead(next));
        }
    }
    while !queued.is_empty() {
        accepted(queued.pop_front()).await;
    }
    started.elapsed()
}

async fn accepted(queued: Option<QueuedBlock>) {
    let outcome = queued.unwrap().outcome().await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Accepted);
}

fn big_pool() -> MempoolConfig {
    MempoolConfig {
        max_count: 200_000,
        max_bytes: 256 << 20,
        max_per_sender: 100_000,
        max_nonce_gap: 100_000,
        // The builder's transfers pay a fee of 1.
        min_fee_rate: FeeRate(0),
        ..MempoolConfig::default()
    }
}

/// How a block's transactions are submitted.
#[derive(Debug, Clone, Copy)]
enum Submitter {
    /// `submit_many` in bursts of 256, in block order, as the relay worker does.
    Relay,
    /// `submit` once per transaction from [`RPC_CALLERS`] callers, each sender's
    /// transactions in order on one caller.
    Rpc,
}

async fn admit(pool: &PoolHandle, txs: &[SignedTransaction], how: Submitter) -> Duration {
    let started = Instant::now();
    match how {
        Submitter::Relay => {
            for burst in txs.chunks(256) {
                for verdict in pool.submit_many(burst.to_vec()).await {
                    verdict.unwrap();
                }
            }
        }
        Submitter::Rpc => {
            let mut lanes: Vec<Vec<SignedTransaction>> = vec![Vec::new(); RPC_CALLERS];
            let mut lane_of: HashMap<Address, usize> = HashMap::new();
            for tx in txs {
                let next = lane_of.len() % RPC_CALLERS;
                let lane = *lane_of.entry(tx.tx().from).or_insert(next);
                lanes[lane].push(tx.clone());
            }
            let callers: Vec<_> = lanes
                .into_iter()
                .map(|lane| {
                    let pool = pool.clone();
                    tokio::spawn(async move {
                        for tx in lane {
                            pool.submit(tx).await.unwrap();
                        }
                    })
                })
                .collect();
            for caller in callers {
                caller.await.unwrap();
            }
        }
    }
    started.elapsed()
}

/// Admits each block's transactions through the pool, then imports that block before the
/// next block's transactions come, as a node that follows the network does (so the pool
/// holds about one block's worth): returns the time spent admitting, and the signature
/// cache that admission filled.
async fn admit_block_by_block(
    spec: &ChainSpec,
    blocks: &[Block],
    how: Submitter,
) -> (Duration, Arc<SignatureCache>) {
    let (_dir, chain) = fresh_chain(spec, None);
    let tasks = TaskManager::new();
    let pool = PoolHandle::start(chain.clone(), big_pool(), tasks.executor()).unwrap();
    let mut admitting = Duration::ZERO;
    for block in blocks {
        admitting += admit(&pool, &block.transactions, how).await;
        let outcome = chain.submit_block(block.clone()).await.unwrap();
        assert_eq!(outcome.verdict, Verdict::Accepted);
        pool.wait_synced(block.hash()).await;
        assert!(
            block.transactions.iter().all(|t| !pool.contains(&t.id())),
            "the block took them"
        );
    }
    let cache = Arc::clone(chain.signature_cache());
    tasks.begin_shutdown();
    chain.shutdown().await;
    tasks.wait().await;
    (admitting, cache)
}

fn rate(count: usize, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn line(what: &str, rate: f64, ceiling: f64) {
    println!(
        "  {what:<46} {rate:>9.0} tx/s  {:>5.1}% of the ceiling",
        100.0 * rate / ceiling
    );
}

async fn scenario(senders: u32, blocks_n: usize, txs_n: usize) {
    let (spec, keys) = spec_with(senders);
    println!("{senders} senders: generating {blocks_n} blocks of {txs_n} transfers...");
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let blocks = builder.extend(
        &genesis,
        blocks_n,
        &keys,
        txs_n,
        Address::from_bytes([9; 32]),
    );
    assert_eq!(blocks.len(), blocks_n);
    let txs: Vec<SignedTransaction> = blocks
        .iter()
        .flat_map(|b| b.transactions.iter().cloned())
        .collect();
    let total = txs.len();

    let ceiling = ceiling(&txs);
    println!(
        "  ceiling: ed25519-zebra batch, 1,024 per batch, {} threads {ceiling:>9.0} sig/s",
        threads()
    );

    // Tern's verification alone, block by block as the import runs it ahead of each
    // block (split across the cores), into a fresh cache, with nothing beside it.
    let cache = SignatureCache::default();
    let started = Instant::now();
    for block in &blocks {
        cache
            .verify_signatures(&block.transactions, threads())
            .unwrap();
    }
    line(
        "verification alone, block by block",
        rate(total, started.elapsed()),
        ceiling,
    );

    // Pipelined as sync submits.
    let (_dir, chain) = fresh_chain(&spec, None);
    let cold = import_all(&chain, &blocks).await;
    chain.shutdown().await;
    let cold_rate = rate(total, cold);
    line(
        "import, cold cache, pipelined (fresh store)",
        cold_rate,
        ceiling,
    );

    for how in [Submitter::Relay, Submitter::Rpc] {
        let (admitting, cache) = admit_block_by_block(&spec, &blocks, how).await;
        // The same blocks into a fresh store whose cache holds what admission verified.
        let (_dir, chain) = fresh_chain(&spec, Some(cache));
        let importing = import_all(&chain, &blocks).await;
        chain.shutdown().await;
        let label = match how {
            Submitter::Relay => "admission, relay bursts of 256",
            Submitter::Rpc => "admission, RPC calls from 64 callers",
        };
        line(label, rate(total, admitting), ceiling);
        let warm_rate = rate(total, importing);
        line(
            &format!(
                "import, warm cache (after {})",
                match how {
                    Submitter::Relay => "relay",
                    Submitter::Rpc => "RPC",
                }
            ),
            warm_rate,
            ceiling,
        );
        println!("  warm / cold import: {:.1}x", warm_rate / cold_rate);
    }
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; there are none to honour.
    let blocks_n = env_or("TERN_BENCH_BLOCKS", 20);
    let txs_n = env_or("TERN_BENCH_TXS", 1_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        scenario(10, blocks_n, txs_n).await;
        scenario(10_000, blocks_n, txs_n).await;
    });
}
