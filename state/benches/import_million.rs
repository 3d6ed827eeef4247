//! Import into a store that already holds a million accounts, cold: what the state tree
//! costs a node once its state is large. It prints, each beside its aim or the limit
//! measured in the same run:
//!
//! - import of 20 blocks of 1,000 transfers from 10,000 senders to anyone, into a store
//!   of 1,000,000 accounts reopened before the import (an empty block cache), against
//!   the batch signature verification rate of the same blocks (aim: at least 50%);
//! - the state tree's share of the import time (updating, writing, pruning);
//! - the store's bytes per account with the tree, beside the accounts table alone.
//!
//! Run with `cargo bench -p tern-state --bench import_million` (a few minutes: most of it
//! building the million accounts; a smaller store with `TERN_BENCH_ACCOUNTS=100000`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::HashMap;
use std::time::Instant;

use tern_chain::crypto::{dev_secret_key, SecretKey};
use tern_chain::genesis::ChainSpec;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::testkit::{ChainBuilder, SplitMix64};
use tern_chain::types::{Address, Amount, Timestamp};
use tern_chain::validation::verify_signatures;
use tern_state::chain::{Chain, Verdict};

const BLOCKS: usize = 20;
const TRANSFERS: usize = 1_000;
const SENDERS: u32 = 10_000;
const AIM: f64 = 0.5;

/// Account `i` beyond the senders: 32 bytes as random as a real key's (so the store
/// compresses them no better than real addresses), derived from `i` alone.
fn address(i: u64) -> Address {
    let mut draws = SplitMix64(i);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&draws.next_u64().to_le_bytes());
    }
    Address::from_bytes(bytes)
}

fn main() {
    let accounts: u64 = std::env::var("TERN_BENCH_ACCOUNTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    println!("import into a store of {accounts} accounts");

    let started = Instant::now();
    let senders: Vec<SecretKey> = (0..SENDERS).map(dev_secret_key).collect();
    let others = accounts.saturating_sub(u64::from(SENDERS));
    let allocations: Vec<(Address, Amount)> = senders
        .iter()
        .map(|k| (k.address(), Amount::from_base_units(1 << 40)))
        .chain((0..others).map(|i| (address(i), Amount::from_base_units(1_000_000))))
        .collect();
    let spec = ChainSpec::resolve("dev")
        .unwrap()
        .with_allocations(allocations)
        .unwrap();
    println!(
        "  a genesis of {accounts} accounts: {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let chain = Chain::open(dir.path(), spec.clone()).unwrap();
    chain.flush().unwrap();
    println!(
        "  written to a new store: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let sizes = chain.reader().table_bytes().unwrap();
    let bytes = |name: &str| {
        sizes
            .iter()
            .filter(|(table, _)| *table == name)
            .map(|(_, b)| *b)
            .sum::<u64>()
    };
    let total: u64 = sizes.iter().map(|(_, b)| b).sum();
    println!(
        "  store bytes per account: {:.0} in all (accounts table {:.0}, state tree {:.0})",
        total as f64 / accounts as f64,
        bytes("accounts") as f64 / accounts as f64,
        bytes("state_tree") as f64 / accounts as f64,
    );
    drop(chain);

    // 1,000 transfers a block, each from one of the senders (at its next nonce) to any
    // account.
    let mut builder = ChainBuilder::new(spec.clone());
    let mut tip = builder.genesis();
    let mut rng = SplitMix64(7);
    let mut blocks = Vec::with_capacity(BLOCKS);
    for _ in 0..BLOCKS {
        let mut pending: HashMap<Address, u64> = HashMap::new();
        let txs = (0..TRANSFERS)
            .map(|_| {
                let from = &senders[rng.below(u64::from(SENDERS)) as usize];
                let earlier = pending.entry(from.address()).or_default();
                let to = address(rng.below(others.max(1)));
                let tx = builder.transfer(&tip, from, to, 1_000, 10, *earlier);
                *earlier += 1;
                tx
            })
            .collect();
        let block = builder
            .child(&tip, txs, Address::from_bytes([9; 32]))
            .unwrap();
        tip = block.hash();
        blocks.push(block);
    }

    let started = Instant::now();
    for block in &blocks {
        // A cache of one entry: every signature is checked, as on a cold import.
        verify_signatures(
            block,
            &SignatureCache::new(std::num::NonZeroUsize::MIN),
            threads,
        )
        .unwrap();
    }
    let ceiling = (BLOCKS * TRANSFERS) as f64 / started.elapsed().as_secs_f64();

    // Reopened: nothing of the store in the block cache.
    let mut chain = Chain::open(dir.path(), spec).unwrap();
    let started = Instant::now();
    for block in &blocks {
        let outcome = chain.submit_block(block.clone(), Timestamp::now()).unwrap();
        assert_eq!(outcome.verdict, Verdict::Accepted);
    }
    chain.flush().unwrap();
    let secs = started.elapsed().as_secs_f64();
    let rate = (BLOCKS * TRANSFERS) as f64 / secs;
    let tree = chain.state_tree_time().as_secs_f64();
    println!("  batch signature verification ({threads} threads): {ceiling:.0} tx/s");
    println!(
        "  import of {BLOCKS} blocks of {TRANSFERS} transfers from {SENDERS} senders: {rate:.0} tx/s, \
         {:.0}% of the verification ceiling ({:.2}x the aim of {:.0}%)",
        100.0 * rate / ceiling,
        rate / ceiling / AIM,
        100.0 * AIM
    );
    println!(
        "  the state tree's share of the import: {:.0}% ({:.1} ms a block)",
        100.0 * tree / secs,
        tree * 1_000.0 / BLOCKS as f64
    );
}
