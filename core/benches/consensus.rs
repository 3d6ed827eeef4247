//! Consensus hot paths, reported as transactions per second (criterion's `elem/s`):
//! decoding and verifying one transaction, batch signature verification of 64 and 1,024
//! signatures (with one-by-one verification beside it for comparison), and applying a
//! 10,000-transfer block to the account state. The `unchecked_batch` baseline runs
//! ed25519-zebra's batch equation alone, without Tern's pre-checks or signing messages
//! built per transaction, to show what they cost. `block_batches` verifies one
//! 1,000-transfer block from ten senders cut into batches of 125 to 1,000 on one thread:
//! what the size the split verification cuts costs per signature.
//!
//! Run with `cargo bench -p tern-chain --bench consensus`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rand_chacha::rand_core::SeedableRng;
use std::hint::black_box;

use tern_chain::block::{Block, Header, BLOCK_VERSION};
use tern_chain::crypto::{self, dev_secret_key, SignedMessage};
use tern_chain::encoding;
use tern_chain::genesis::ChainSpec;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::state::{apply_block, Account, MemoryState};
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{
    Address, Amount, BlockHash, ChainId, Height, MerkleRoot, StateRoot, Target, Timestamp,
};

const CHAIN: ChainId = ChainId(7357);

/// `n` transfers, each from its own sender (nonce 0) to the next sender.
fn transfers(n: u32) -> Vec<SignedTransaction> {
    let keys: Vec<_> = (0..n).map(dev_secret_key).collect();
    keys.iter()
        .enumerate()
        .map(|(i, key)| {
            Transaction {
                chain_id: CHAIN,
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

fn decode_and_verify(c: &mut Criterion) {
    let bytes = encoding::encode(&transfers(1)[0]);
    let mut group = c.benchmark_group("transaction");
    group.throughput(Throughput::Elements(1));
    // Decoding alone: the fields and the transaction's two hashes, what every relayed
    // transaction and every transaction of a relayed block costs before any check.
    group.bench_function("decode", |b| {
        b.iter(|| {
            let tx: SignedTransaction = encoding::decode(black_box(&bytes)).unwrap();
            black_box(tx);
        })
    });
    group.bench_function("decode_and_verify", |b| {
        b.iter(|| {
            let tx: SignedTransaction = encoding::decode(black_box(&bytes)).unwrap();
            tx.check_stateless(CHAIN).unwrap();
        })
    });
    group.finish();
}

fn signature_verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("signatures");
    for n in [64u32, 1024] {
        let txs = transfers(n);
        let messages: Vec<Vec<u8>> = txs.iter().map(|t| t.signing_message()).collect();
        let items: Vec<SignedMessage<'_>> = txs
            .iter()
            .zip(&messages)
            .map(|(t, message)| SignedMessage {
                key: &t.tx().from,
                message,
                signature: t.signature(),
            })
            .collect();
        group.throughput(Throughput::Elements(u64::from(n)));
        group.bench_function(format!("batch/{n}"), |b| {
            b.iter(|| tern_chain::tx::verify_signatures(black_box(&txs)).unwrap())
        });
        let keys: Vec<ed25519_zebra::VerificationKeyBytes> = txs
            .iter()
            .map(|t| ed25519_zebra::VerificationKeyBytes::from(*t.tx().from.as_bytes()))
            .collect();
        let sigs: Vec<ed25519_zebra::Signature> = txs
            .iter()
            .map(|t| ed25519_zebra::Signature::from_bytes(t.signature().as_bytes()))
            .collect();
        group.bench_function(format!("unchecked_batch/{n}"), |b| {
            b.iter(|| {
                let mut batch = ed25519_zebra::batch::Verifier::new();
                for ((key, sig), msg) in keys.iter().zip(&sigs).zip(&messages) {
                    batch.queue((*key, *sig, msg.as_slice()));
                }
                batch
                    .verify(rand_chacha::ChaCha20Rng::from_seed([7; 32]))
                    .unwrap()
            })
        });
        group.bench_function(format!("one_by_one/{n}"), |b| {
            b.iter(|| {
                for item in &items {
                    crypto::verify(item.key, item.message, item.signature).unwrap();
                }
            })
        });
    }
    group.finish();
}

/// One block of 1,000 transfers from ten senders (keys that repeat, as in the
/// verification bench's ten-sender case), verified on one thread in batches of 125 (what
/// the split cuts on two cores: four per thread), 250, 500 and all 1,000 at once.
fn block_batches(c: &mut Criterion) {
    let keys: Vec<_> = (0..10).map(dev_secret_key).collect();
    let txs: Vec<SignedTransaction> = (0..1_000u64)
        .map(|i| {
            let key = &keys[(i % 10) as usize];
            Transaction {
                chain_id: CHAIN,
                from: key.address(),
                to: keys[((i + 1) % 10) as usize].address(),
                amount: Amount::from_base_units(1_000),
                fee: Amount::from_base_units(10),
                nonce: i / 10,
            }
            .sign(key)
        })
        .collect();
    let mut group = c.benchmark_group("block_batches");
    group.throughput(Throughput::Elements(txs.len() as u64));
    for size in [125usize, 250, 500, 1_000] {
        group.bench_function(format!("ten_senders/{size}"), |b| {
            b.iter(|| {
                for batch in black_box(&txs).chunks(size) {
                    tern_chain::tx::verify_signatures(batch).unwrap();
                }
            })
        });
    }
    // The same block as block validation and `verify_ahead` verify it: through a
    // fresh signature cache, split across every core.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    group.bench_function(format!("ten_senders/cache_split_{threads}_threads"), |b| {
        b.iter_batched(
            SignatureCache::default,
            |cache| cache.verify_signatures(black_box(&txs), threads).unwrap(),
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn state_application(c: &mut Criterion) {
    const N: u32 = 10_000;
    let transactions = transfers(N);
    let state = MemoryState::new(transactions.iter().map(|t| {
        (
            t.tx().from,
            Account {
                balance: Amount::from_base_units(1_000_000),
                nonce: 0,
            },
        )
    }));
    let header = Header {
        version: BLOCK_VERSION,
        height: Height(1),
        parent: BlockHash::ZERO,
        merkle_root: MerkleRoot::ZERO,
        state_root: StateRoot::from_bytes([0; 32]),
        timestamp: Timestamp(0),
        target: Target::MAX,
        miner: Address::from_bytes([9; 32]),
        nonce: 0,
    };
    let block = Block {
        header,
        transactions,
    };
    let reward = ChainSpec::resolve("dev").unwrap().consensus.block_reward;
    let mut group = c.benchmark_group("state");
    group.throughput(Throughput::Elements(u64::from(N)));
    group.sample_size(20);
    group.bench_function("apply_10000_transfers", |b| {
        b.iter_batched_ref(
            || state.clone(),
            |state| {
                let change = apply_block(state, &block, reward).unwrap();
                state.apply(&change);
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    decode_and_verify,
    signature_verification,
    block_batches,
    state_application
);
criterion_main!(benches);
