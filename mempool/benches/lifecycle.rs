//! What the transaction lifecycle and the recipient rule cost, each against a limit
//! measured in the same run (the machine is shared and noisy, so only ratios travel):
//!
//! - the recipient check (a point decoded, the key cache missed) against one signature
//!   checked in a batch of 64, the admission path's own cost per transaction;
//! - `Mempool::lifecycle` of the transaction last in block order, and
//!   `Mempool::fee_estimate`, in a pool of 50,000, against building a 5,000-transaction
//!   block template from the same pool: all three hold the pool's lock.
//!
//! Run with `cargo bench -p tern-mempool --bench lifecycle`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::print_stdout,
    missing_docs
)]

use std::time::{Duration, Instant};

use tern_chain::crypto::{check_recipient, dev_secret_key};
use tern_chain::signature_cache::SignatureCache;
use tern_chain::state::Account;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, Amount, ChainId, Timestamp};
use tern_mempool::{verify_many, BlockLimits, Lifecycle, Mempool, MempoolConfig};

const CHAIN: ChainId = ChainId(7357);
const NOW: Timestamp = Timestamp(1_000_000);
const ROUNDS: usize = 7;

/// The median over [`ROUNDS`] of `f`'s time divided by `per`.
fn median_per(per: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed() / u32::try_from(per).unwrap()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}

fn transfer(sender: u32, nonce: u64, fee: u64) -> SignedTransaction {
    let key = dev_secret_key(sender);
    Transaction {
        chain_id: CHAIN,
        from: key.address(),
        to: dev_secret_key(sender + 1).address(),
        amount: Amount::from_base_units(1_000),
        fee: Amount::from_base_units(fee),
        nonce,
    }
    .sign(&key)
}

fn recipient_rule() {
    // More addresses than the key cache holds, so that each check decodes its point.
    let addresses: Vec<Address> = (0..100_000u32)
        .map(|i| dev_secret_key(2_000_000 + i).address())
        .collect();
    let check = median_per(addresses.len(), || {
        for address in &addresses {
            check_recipient(address).unwrap();
        }
    });
    let txs: Vec<SignedTransaction> = (0..1_024).map(|i| transfer(i, 0, 1_000)).collect();
    let signature = median_per(txs.len(), || {
        let cache = SignatureCache::default();
        for chunk in txs.chunks(64) {
            for verdict in verify_many(chunk.to_vec(), CHAIN, &cache, 1) {
                verdict.unwrap();
            }
        }
    });
    println!(
        "recipient check, key cache missed: {:.2} µs; admission's stateless checks per \
         transaction in batches of 64 (the limit): {:.2} µs; the check is {:.1}% of it",
        check.as_secs_f64() * 1e6,
        signature.as_secs_f64() * 1e6,
        100.0 * check.as_secs_f64() / signature.as_secs_f64()
    );
}

fn lifecycle_and_estimate() {
    let config = MempoolConfig {
        max_count: 60_000,
        max_bytes: 64 << 20,
        ..MempoolConfig::default()
    };
    let mut pool = Mempool::new(CHAIN, config);
    let txs: Vec<SignedTransaction> = (0..10_000u32)
        .flat_map(|s| (0..5).map(move |n| transfer(s, n, 200 + u64::from(s * 37 % 1_000) + n)))
        .collect();
    let rich = Account {
        balance: Amount::from_base_units(u64::MAX / 2),
        nonce: 0,
    };
    for verified in verify_many(txs, CHAIN, &SignatureCache::default(), 2) {
        pool.admit_verified(verified.unwrap(), rich, NOW).unwrap();
    }
    assert_eq!(pool.len(), 50_000);
    let limits = BlockLimits {
        count: 5_000,
        bytes: 1_000_000,
    };
    let last = pool.list(usize::MAX).last().unwrap().id();
    assert!(matches!(
        pool.lifecycle(&last, limits, NOW),
        Lifecycle::Pending(_)
    ));
    let template = median_per(1, || {
        std::hint::black_box(pool.select(5_000, 1_000_000));
    });
    let lifecycle = median_per(1, || {
        std::hint::black_box(pool.lifecycle(&last, limits, NOW));
    });
    let estimate = median_per(1, || {
        std::hint::black_box(pool.fee_estimate(1, limits, NOW));
    });
    let ratio = |d: Duration| d.as_secs_f64() / template.as_secs_f64();
    println!(
        "pool of 50,000: a 5,000-transaction template {:.2} ms (the limit); lifecycle of \
         the last in block order {:.2} ms ({:.1}x); fee_estimate(1) {:.2} ms ({:.1}x)",
        template.as_secs_f64() * 1e3,
        lifecycle.as_secs_f64() * 1e3,
        ratio(lifecycle),
        estimate.as_secs_f64() * 1e3,
        ratio(estimate)
    );
}

fn main() {
    recipient_rule();
    lifecycle_and_estimate();
}
