//! # tern-node
//!
//! The running Tern node: the `tern` binary and the wiring of the parts the other crates
//! own (`tern-state`'s chain, `tern-mempool`'s pool, `tern-p2p`'s network, `tern-rpc`'s
//! server, `tern-wallet`'s commands) into one task tree. Besides the wiring it keeps the
//! miner and the metrics listener, which join several parts.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`mining`] | the mining loop and its nonce-search threads, and on-demand blocks for development chains |
//! | [`dev_blocks`] | automine and a fixed block interval on development chains |
//! | [`service`] | [`service::Node`]: starts every part in order and stops them in reverse; the task tree |
//! | [`descriptors`] | the open-file limit raised at start, and the RPC slots fitted into it |
//! | [`disk`] | free space in the data directory, warned about before it runs out |
//! | [`store_cmd`] | `tern store check`: an offline check of a data directory's store |
//! | [`run`] | `tern node`: flags, signals, logging |
//! | [`metrics`] | `/metrics` (Prometheus), `/healthy` and `/ready` on a small HTTP listener |
//! | [`config`] | every setting once: the configuration file's keys, `tern node`'s flags, their defaults and docs; the layers (defaults, file, flags) and `tern config default` |
//! | [`cli_error`] | how a command fails: one line and a non-zero exit |
//!
//! ## Data flow
//!
//! The chain actor ([`tern_state::chain`]) owns every write to the chain. A transaction
//! enters through [`tern_mempool::PoolHandle::submit`], from RPC or from a peer; the miner
//! builds templates from the pool and submits blocks to the chain actor, as the network
//! does with peers' blocks; every chain update flows back to the pool, which drops what
//! was included and takes back what a reorg returned, and to the network, which announces
//! new tips.
//!
//! ## Concurrency notes
//!
//! Every task and thread is spawned through a [`tern_tasks::TaskExecutor`]; the table in
//! [`service`] lists them. A panic anywhere, a critical task that ends early, or a store
//! that cannot be written turns [`tern_tasks::Health`] to failed and stops the node with a
//! non-zero exit. Shutdown joins every task: nothing is left running, and no timeout
//! stands in for ownership.
//!
//! Signature checks, nonce searches and every store read made from async code run off
//! the async workers: the mempool's admission batches on admission threads of their own
//! ([`tern_mempool::handle`]), the rest on tokio's blocking pool
//! ([`tern_state::chain::AsyncChainReader`]). A signature batch large enough to split (a
//! block's, a peer's burst) is spread over rayon's global pool, one thread per core, which
//! the caller waits for; it is the one set of threads no task manager owns, and it holds
//! nothing of the node's. Work awaited in place on the blocking pool is part of the task
//! that awaits it. The mempool lock is held only for synchronous sections and never across
//! an `.await`.

pub mod cli_error;
pub mod config;
pub mod descriptors;
pub mod dev_blocks;
pub mod disk;
pub mod metrics;
pub mod mining;
pub mod run;
pub mod service;
pub mod store_cmd;
