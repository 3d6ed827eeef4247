//! # tern-mempool
//!
//! Transactions waiting for a block: which are admitted, in what order they are offered
//! to the miner, which one a higher fee replaces, what is evicted when the pool is full,
//! and what comes back when a reorg disconnects a block.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`pool`] | [`Mempool`], the pure data structure with every admission rule (one [`MempoolError`] variant each), sender queues, fee floors, block selection, and chain updates applied to it |
//! | [`handle`] | [`PoolHandle`], the node's one pool: admission threads that verify signatures in batches, the follower task that applies the chain's updates, and the notifications the miner and relay wait on |
//!
//! ## Data flow
//!
//! A transaction from RPC or from a peer enters through [`PoolHandle::submit`] (or
//! `submit_many`) and joins the next signature batch of an admission thread, which
//! verifies it through the signature cache that block validation shares (so a block whose
//! transactions came through here costs no signature checks), reads the senders' tip
//! accounts through `tern-state`'s reader, and admits each transaction under the pool's
//! lock. The follower takes every [`tern_state::chain::ChainUpdate`] from the chain's
//! event stream: included transactions leave, disconnected ones come back.
//!
//! ## What it may not touch
//!
//! It never writes the chain and knows nothing of peers or of RPC shapes: relay and the
//! RPC server hold a [`PoolHandle`] and turn its typed errors into their own words. Every
//! thread and task it starts is spawned through a `tern-tasks` executor.
//!
//! ## Concurrency notes
//!
//! The pool's lock is held only for short synchronous sections, never across an `.await`.
//! Everything a client or peer can grow is bounded: the pool's count, bytes and per-sender
//! number ([`MempoolConfig`]), the admission queue ([`ADMISSION_QUEUE`]), the batches
//! verified but not yet admitted ([`MAX_BATCHES_UNADMITTED`]), and the backlog of admitted
//! ids for relay ([`ADMITTED_BACKLOG`]).

pub mod handle;
pub mod pool;

pub use handle::{
    AdmissionStats, PoolHandle, SubmitError, Unavailable, ADMISSION_QUEUE, ADMITTED_BACKLOG,
    MAX_ADMISSION_THREADS, MAX_BATCH, MAX_BATCHES_UNADMITTED,
};
pub use pool::{
    decode_transaction, verify, verify_many, Admission, FeeRate, Mempool, MempoolConfig,
    MempoolError, MempoolStats, VerifiedTransaction, INCREMENTAL_RATE, REPLACEMENT_MARGIN_PERCENT,
};
