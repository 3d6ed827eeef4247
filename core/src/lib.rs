//! # tern-chain
//!
//! Tern's consensus domain: everything that decides whether a transaction or block is
//! valid. No storage, no sockets and no async runtime; no clock reads in the rules
//! themselves (callers pass "now"), so every rule is a deterministic function that tests
//! can drive directly. The persistent chain built from these rules is `tern-state`'s, and
//! the pool of waiting transactions `tern-mempool`'s; both depend on this crate, never
//! the reverse.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`types`] | the quantities: [`types::BlockHash`], [`types::TxId`], [`types::Address`] (bech32m text), [`types::Amount`] (checked), [`types::Height`], [`types::Target`] and [`types::Work`] (256-bit) |
//! | [`encoding`] | the one canonical byte encoding for hashing, signing, storage and the wire; the only user of bincode |
//! | [`crypto`] | keys, signatures, and the single/batch verification rule |
//! | [`tx`] | transactions, their signing message and id |
//! | [`block`] | headers, blocks, the RFC 6962 Merkle root |
//! | [`pow`] | the ASERT difficulty rule, median time past, nonce search |
//! | [`miner`] | block templates: the pure part of mining |
//! | [`bounded_read`] | reading a file from outside with a bound on its size |
//! | [`genesis`] | chain specs (`genesis/*.json`) and the genesis block and state |
//! | [`state`] | accounts and the block state transition with undo records |
//! | [`state_map`] | the state map's rules: account keys and values, node hashing, the root, and account proofs checked with SHA-256 alone (shared by node and wallet); a map in memory |
//! | [`validation`] | the header and body rules and block signature checks |
//! | [`signature_cache`] | the bounded set of verified transactions that admission and block validation share |
//! | `testkit` | building valid chains on any branch, for tests, benchmarks and the testnet's hostile peers (behind the `test-utils` feature: not part of the library's API, but the `tern` binary links it, for `tern testnet attack`'s forged chains) |
//! | [`error`] | every consensus rule as one error variant |
//!
//! ## How a block is judged
//!
//! [`validation::check_proof_of_work`] first (one hash, costly to fake), then
//! [`validation::check_header`] against the parent, [`validation::check_body`], and
//! [`validation::verify_signatures`] (CPU-heavy: callers run it off async threads). Last,
//! [`state::apply_block`] applies the transactions to the parent's state and returns the
//! new account values with an undo record, writing nothing; `tern-state` persists both
//! with the indexes and the tip in one atomic batch.
//!
//! ## Correctness and security notes
//!
//! - Nothing here panics on input: decoders bound every count before allocating, and all
//!   arithmetic on amounts, heights and targets is checked or saturating by design.
//! - Single and batch signature verification accept exactly the same signatures (see
//!   [`crypto`]), so a block's validity never depends on how it was batched; the signature
//!   cache holds only what verified, so it never depends on what was cached either.
//! - A transaction's id does not cover its signature, of which a sender can make many
//!   valid ones: see [`tx`] for the two hashes.
//! - `docs/PROTOCOL.md` specifies every byte layout and rule; a test keeps its worked
//!   example equal to what this crate computes.

pub mod block;
pub mod bounded_read;
pub mod crypto;
pub mod encoding;
pub mod error;
pub mod genesis;
pub mod miner;
pub mod pow;
pub mod signature_cache;
pub mod state;
pub mod state_map;
#[cfg(any(test, feature = "test-utils"))]
pub mod testkit;
pub mod tx;
pub mod types;
pub mod validation;
