//! # tern-state
//!
//! Tern's persistent chain: the RocksDB store, the chain built in it, and the one actor
//! that writes it. The consensus rules it applies come from `tern-chain`; this crate
//! decides nothing about validity itself, only what is stored, in which order, and who
//! hears about it.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`store`] | RocksDB: the one list of column families ([`store::schema`]), typed tables, `#[must_use]` atomic batches, the write-behind thread, the data-directory lock |
//! | [`tip_record`] | the last acknowledged tip, kept beside the store but outside RocksDB, so a store that opens below it is reported |
//! | [`persist`] | small JSON files in the data directory (the tip record, the address book, bans), written atomically by a background task |
//! | [`chain`] | the block index, fork choice, connect/disconnect/reorg, orphans; the chain actor ([`chain::ChainHandle`]), its event stream, and the readers ([`chain::ChainReader`], [`chain::AsyncChainReader`]); the offline store check |
//!
//! ## Data flow
//!
//! Miner, relay and sync all submit blocks through a [`chain::ChainHandle`]; the chain
//! actor thread checks them with `tern-chain`'s rules, stores and connects them, publishes
//! the tip on a `watch` channel and each [`chain::ChainUpdate`] on one event stream
//! ([`chain::ChainHandle::events`]) for the mempool, relay and RPC subscriptions, which
//! ends when the actor stops. Queries ([`chain::ChainReader`]) read RocksDB directly and
//! never wait for the actor; async code runs them on the blocking pool through
//! [`chain::AsyncChainReader`].
//!
//! ## What it may not touch
//!
//! No sockets, no peers, no mempool and no RPC shapes: those crates depend on this one,
//! never the reverse. Only the chain actor writes; every other user holds a reader.
//!
//! ## Correctness notes
//!
//! - Every block is one atomic RocksDB batch (state, undo record, indexes and tip), and
//!   the target of a reorg is written before the reorg starts, so a crash anywhere resumes
//!   where it stopped.
//! - Nothing about a block (its verdict, the tip, its event) reaches anyone before its
//!   batches have landed.
//! - A store that exists but cannot be read is an error naming the directory, never
//!   silently recreated; `tern store check` reads every record.

pub mod chain;
pub mod persist;
pub mod store;
pub mod tip_record;
