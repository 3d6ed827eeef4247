//! Block import into a fresh store, against the batch signature verification rate measured
//! in the same run, and a 100-block reorg.
//!
//! Run with `cargo bench -p tern-state --bench import`. Sizes can be changed with
//! `TERN_BENCH_BLOCKS` and `TERN_BENCH_TXS` (default 1,000 blocks of 1,000 transfers).
//! Prints figures; asserts nothing about time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Instant;

use tern_chain::block::Block;
use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::testkit::ChainBuilder;
use tern_chain::types::{Address, Timestamp};
use tern_chain::validation::verify_signatures;
use tern_state::chain::{Chain, Verdict};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes harness flags such as --bench; there are none to honour.
    let blocks_n = env_or("TERN_BENCH_BLOCKS", 1_000);
    let txs_n = env_or("TERN_BENCH_TXS", 1_000);
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(1);
    let spec = ChainSpec::resolve("dev").unwrap();
    let keys: Vec<_> = (0..10).map(dev_secret_key).collect();
    let miner = Address::from_bytes([9; 32]);

    println!("generating {blocks_n} blocks of {txs_n} transfers...");
    let mut builder = ChainBuilder::new(spec.clone());
    let genesis = builder.genesis();
    let blocks = builder.extend(&genesis, blocks_n, &keys, txs_n, miner);
    let total_txs: usize = blocks.iter().map(|b| b.transactions.len()).sum();

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
    let verify_secs = started.elapsed().as_secs_f64();
    let verify_rate = total_txs as f64 / verify_secs;

    let dir = tempfile::tempdir().unwrap();
    let mut chain = Chain::open(dir.path(), spec.clone()).unwrap();
    let started = Instant::now();
    for block in &blocks {
        let outcome = chain.submit_block(block.clone(), Timestamp::now()).unwrap();
        assert_eq!(outcome.verdict, Verdict::Accepted);
    }
    chain.flush().unwrap();
    let import_secs = started.elapsed().as_secs_f64();
    let import_rate = total_txs as f64 / import_secs;

    println!("batch signature verification ({threads} threads): {verify_rate:.0} tx/s");
    println!(
        "import of {blocks_n} blocks, {total_txs} transfers into a fresh store: {:.1} blocks/s, {import_rate:.0} tx/s ({import_secs:.1} s)",
        blocks_n as f64 / import_secs
    );
    println!(
        "import / verification: {:.0}%",
        100.0 * import_rate / verify_rate
    );

    // A 100-block reorg: a competing branch forks 100 blocks below the tip and overtakes it.
    let depth = 100.min(blocks.len().saturating_sub(1));
    let fork = blocks[blocks.len() - 1 - depth].hash();
    let side: Vec<Block> =
        builder.extend(&fork, depth + 1, &keys, 100, Address::from_bytes([8; 32]));
    for block in &side[..depth] {
        chain.submit_block(block.clone(), Timestamp::now()).unwrap();
    }
    let started = Instant::now();
    let outcome = chain
        .submit_block(side[depth].clone(), Timestamp::now())
        .unwrap();
    let reorg_secs = started.elapsed().as_secs_f64();
    let update = outcome.update.expect("the longer branch wins");
    println!(
        "reorg: {} blocks disconnected ({} transfers), {} connected, in {:.1} ms",
        update.disconnected.len(),
        update
            .disconnected
            .iter()
            .map(|b| b.transactions.len())
            .sum::<usize>(),
        update.connected.len(),
        reorg_secs * 1000.0
    );
}
