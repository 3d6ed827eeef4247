//! tern-node's integration tests, in one binary: each module was a test binary of its
//! own, and each of those linked RocksDB again. `decoders` stays apart, because it
//! installs a counting global allocator that other tests' allocations would disturb.
//!
//! | module | what it shows |
//! |---|---|
//! | `config` | `tern node --config`: the file's keys under the flags given |
//! | `dev_blocks` | `tern node --automine` and `--block-time`: blocks without proof-of-work pacing |
//! | `explorer` | the built-in explorer's pages in headless Chromium, against a real node |
//! | `errors` | mistakes at start (ports, data directories, configs) are one-line errors |
//! | `failure` | a node that cannot go on exits non-zero, naming the part, and loses nothing |
//! | `mining` | the miner and on-demand blocks, through the pool and the chain |
//! | `rpc` | every RPC method, both transports, limits, subscriptions, against a real node |
//! | `sync_restart` | sync (full or by snapshot) killed halfway resumes; a damaged store is reported and refetched |
//! | `testnet` | `tern testnet` mines, confirms a transfer, stops cleanly and resumes |
//! | `wallet` | `tern wallet` against a real node |
//!
//! `support` starts real `tern node` processes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod support;

mod config;
mod dev_blocks;
mod errors;
mod explorer;
mod failure;
mod mining;
mod rpc;
mod sync_restart;
mod testnet;
mod wallet;
mod wallet_checks;
