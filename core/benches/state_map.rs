//! The state map at a million accounts, in memory: what choosing `jmt` costs before any
//! disk is involved. It prints, each beside its aim or the limit measured in the same run:
//!
//! - writing 1,000,000 accounts into an empty map;
//! - one block's update: 1,000 transfers from 10,000 senders (about 2,000 accounts set)
//!   against a million, over 20 blocks, beside the same 1,000 transfers' signature batch
//!   (the verification ceiling import is measured against), and the tree's share of a
//!   block's time if import ran at that ceiling;
//! - account proofs made per second on one core (aim: 20,000), their encoded size (aim: at
//!   most 1 KB) and proofs checked per second.
//!
//! Run with `cargo bench -p tern-chain --bench state_map` (about a minute; a smaller map
//! with `TERN_BENCH_ACCOUNTS=100000`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::time::Instant;

use tern_chain::crypto::dev_secret_key;
use tern_chain::encoding;
use tern_chain::state::Account;
use tern_chain::state_map::MemoryTree;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Address, Amount, ChainId};

const BLOCKS: usize = 20;
const TRANSFERS: usize = 1_000;
const SENDERS: u64 = 10_000;
const PROOFS: usize = 20_000;
const PROOF_AIM_PER_SEC: f64 = 20_000.0;
const PROOF_AIM_BYTES: usize = 1_024;

/// splitmix64: the same draws every run.
struct Draws(u64);

impl Draws {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

fn address(i: u64) -> Address {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&i.to_le_bytes());
    bytes[31] = 0xa5;
    Address::from_bytes(bytes)
}

fn account(balance: u64, nonce: u64) -> Account {
    Account {
        balance: Amount::from_base_units(balance),
        nonce,
    }
}

fn transfers(n: usize) -> Vec<SignedTransaction> {
    let keys: Vec<_> = (0..n as u32).map(dev_secret_key).collect();
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            Transaction {
                chain_id: ChainId(7357),
                from: key.address(),
                to: keys[(i + 1) % keys.len()].address(),
                amount: Amount::from_base_units(1_000),
                fee: Amount::from_base_units(10),
                nonce: 0,
            }
            .sign(key)
        })
        .collect()
}

fn main() {
    let accounts: u64 = std::env::var("TERN_BENCH_ACCOUNTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    println!("state map (jmt over SHA-256, in memory) at {accounts} accounts");

    let start = Instant::now();
    let mut tree =
        MemoryTree::with_accounts((0..accounts).map(|i| (address(i), account(1_000_000, 0))))
            .unwrap();
    let built = start.elapsed().as_secs_f64();
    println!(
        "  write {accounts} accounts into an empty map: {built:.1} s ({:.0} accounts/s)",
        accounts as f64 / built
    );

    // One block: 1,000 transfers from 10,000 senders to anyone, and the miner.
    let mut rng = Draws(7);
    let mut nonces = vec![0u64; SENDERS as usize];
    let mut tree_secs = 0.0;
    for _ in 0..BLOCKS {
        let mut changes = Vec::with_capacity(2 * TRANSFERS + 1);
        for _ in 0..TRANSFERS {
            let sender = rng.below(SENDERS);
            nonces[sender as usize] += 1;
            changes.push((
                address(sender),
                Some(account(999_000, nonces[sender as usize])),
            ));
            changes.push((address(rng.below(accounts)), Some(account(1_001_000, 0))));
        }
        changes.push((address(accounts + 1), Some(account(5_000, 0))));
        let start = Instant::now();
        tree.apply(changes).unwrap();
        tree_secs += start.elapsed().as_secs_f64();
    }
    let per_block_ms = tree_secs * 1_000.0 / BLOCKS as f64;

    let txs = transfers(TRANSFERS);
    let start = Instant::now();
    for _ in 0..3 {
        tern_chain::tx::verify_signatures(&txs).unwrap();
    }
    let verify_ms = start.elapsed().as_secs_f64() * 1_000.0 / 3.0;
    println!(
        "  a block of {TRANSFERS} transfers ({} accounts set): {per_block_ms:.1} ms of tree update, \
         mean of {BLOCKS}",
        2 * TRANSFERS + 1
    );
    println!(
        "  the same block's signature batch (the verification ceiling): {verify_ms:.1} ms; \
         at that ceiling the tree would be {:.0}% of a block's import, and import at most \
         {:.0}% of the ceiling",
        100.0 * per_block_ms / (per_block_ms + verify_ms),
        100.0 * verify_ms / (per_block_ms + verify_ms)
    );

    let start = Instant::now();
    let mut sizes = Vec::with_capacity(PROOFS);
    let mut proofs = Vec::with_capacity(PROOFS);
    for _ in 0..PROOFS {
        let who = address(rng.below(accounts + accounts / 10));
        let (found, proof) = tree.prove(&who).unwrap();
        sizes.push(encoding::encode(&proof).len());
        proofs.push((who, found, proof));
    }
    let per_sec = PROOFS as f64 / start.elapsed().as_secs_f64();
    let mean = sizes.iter().sum::<usize>() as f64 / sizes.len() as f64;
    let max = sizes.iter().copied().max().unwrap_or(0);
    println!(
        "  proofs: {per_sec:.0} per second on one core ({:.2}x the aim of {PROOF_AIM_PER_SEC:.0}); \
         {mean:.0} bytes on average, {max} at most ({:.2}x the aim of {PROOF_AIM_BYTES})",
        per_sec / PROOF_AIM_PER_SEC,
        max as f64 / PROOF_AIM_BYTES as f64
    );

    let root = tree.root();
    let start = Instant::now();
    for (who, found, proof) in &proofs {
        proof.verify(&root, who, found.as_ref()).unwrap();
    }
    let checks = PROOFS as f64 / start.elapsed().as_secs_f64();
    println!("  proof checks: {checks:.0} per second on one core");
}
