//! Mempool hot paths: admission (each transaction verified alone, and with signatures
//! checked in batches of 64 as relayed transactions arrive) and building a block template
//! from a pool of 100,000 transactions.
//!
//! Run with `cargo bench -p tern-mempool --bench mempool`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use tern_chain::crypto::dev_secret_key;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::state::Account;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Amount, ChainId, Timestamp};
use tern_mempool::{verify_many, Mempool, MempoolConfig};

const CHAIN: ChainId = ChainId(7357);
const NOW: Timestamp = Timestamp(1_000_000);

fn rich() -> Account {
    Account {
        balance: Amount::from_base_units(u64::MAX / 2),
        nonce: 0,
    }
}

/// `senders × per_sender` transfers with varied fees.
fn transfers(senders: u32, per_sender: u64) -> Vec<SignedTransaction> {
    (0..senders)
        .flat_map(|s| {
            let key = dev_secret_key(s);
            (0..per_sender)
                .map(|nonce| {
                    Transaction {
                        chain_id: CHAIN,
                        from: key.address(),
                        to: dev_secret_key(s + 1).address(),
                        amount: Amount::from_base_units(1_000),
                        fee: Amount::from_base_units(200 + u64::from(s * 37 % 1_000) + nonce),
                        nonce,
                    }
                    .sign(&key)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

fn big_pool() -> MempoolConfig {
    MempoolConfig {
        max_count: 200_000,
        max_bytes: 64 << 20,
        ..MempoolConfig::default()
    }
}

fn admission(c: &mut Criterion) {
    let txs = transfers(1_000, 4);
    let mut group = c.benchmark_group("mempool_admission");
    group.throughput(Throughput::Elements(txs.len() as u64));
    group.sample_size(10);
    group.bench_function("one_by_one", |b| {
        b.iter_batched(
            || (Mempool::new(CHAIN, big_pool()), txs.clone()),
            |(mut pool, txs)| {
                for tx in txs {
                    pool.admit(tx, rich(), NOW).unwrap();
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("batched_signatures_64", |b| {
        b.iter_batched(
            || {
                let cache = SignatureCache::default();
                (Mempool::new(CHAIN, big_pool()), txs.clone(), cache)
            },
            |(mut pool, txs, cache)| {
                for chunk in txs.chunks(64) {
                    for verified in verify_many(chunk.to_vec(), CHAIN, &cache, 1) {
                        pool.admit_verified(verified.unwrap(), rich(), NOW).unwrap();
                    }
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn template(c: &mut Criterion) {
    let mut pool = Mempool::new(CHAIN, big_pool());
    for verified in verify_many(transfers(20_000, 5), CHAIN, &SignatureCache::default(), 2) {
        pool.admit_verified(verified.unwrap(), rich(), NOW).unwrap();
    }
    assert_eq!(pool.len(), 100_000);
    let mut group = c.benchmark_group("mempool_template");
    group.sample_size(20);
    group.bench_function("select_5000_of_100000", |b| {
        b.iter(|| pool.select(5_000, 1_000_000))
    });
    group.finish();
}

criterion_group!(benches, admission, template);
criterion_main!(benches);
