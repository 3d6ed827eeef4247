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
//! | [`pool`] | [`Mempool`], the pure data structure with every admission rule (one [`MempoolError`] variant each), sender queues, fee floors, block selection, chain updates applied to it, each transaction's [`Lifecycle`] (from a bounded journal of drops) and [`FeeEstimate`]s |
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
//! number ([`MempoolConfig`]), the journal of dropped transactions ([`JOURNAL_CAPACITY`]), the
//! admission queue ([`ADMISSION_QUEUE`]), the batches
//! verified but not yet admitted ([`MAX_BATCHES_UNADMITTED`]), and the backlog of admitted
//! ids for relay ([`ADMITTED_BACKLOG`]).

pub mod handle;
pub mod pool;

pub use handle::{
    AdmissionStats, PoolHandle, SubmitError, Unavailable, ADMISSION_QUEUE, ADMITTED_BACKLOG,
    MAX_ADMISSION_THREADS, MAX_BATCH, MAX_BATCHES_UNADMITTED,
};
pub use pool::{
    decode_transaction, verify, verify_many, Admission, BlockLimits, DropReason, Dropped,
    FeeBucket, FeeEstimate, FeeRate, Lifecycle, Mempool, MempoolConfig, MempoolError, MempoolStats,
    Pending, QueueBasis, RecentBasis, VerifiedTransaction, Waiting, FEE_HISTORY_BLOCKS,
    FEE_TARGETS, INCREMENTAL_RATE, JOURNAL_CAPACITY, JOURNAL_RETENTION_MS,
    REPLACEMENT_MARGIN_PERCENT,
};
