//! # tern-node
//!
//! The running Tern node.
//!
//! ## Map
//!
//! | module | owns |
//! |---|---|
//! | [`pool`] | the node's mempool behind a short-held lock, the one admission path for RPC and peers, and the task that makes it follow the chain |
//! | [`mining`] | the mining loop and its nonce-search threads, and on-demand blocks for development chains |
//! | [`rpc_backend`] | the node as the RPC server sees it |
//! | [`wallet`] | `tern wallet`: the encrypted key file and the commands that use a node's RPC |
//!
//! Still to come: the peer-to-peer layer (transport, handshake, peer manager, relay),
//! sync, the service that wires everything with the RPC server, and the `tern` binary.
//!
//! ## Data flow
//!
//! The chain actor ([`tern_core::chain`]) owns every write to the chain. A transaction
//! enters through [`pool::PoolHandle::submit`]; the miner builds templates from the pool
//! and submits blocks to the chain actor like any peer would; every chain update flows back
//! to the pool, which drops what was included and takes back what a reorg returned.
//!
//! ## Concurrency notes
//!
//! Signature checks and nonce searches run on tokio's blocking pool, never on the async
//! workers. The mempool lock is held only for synchronous sections and never across an
//! `.await`.

pub mod mining;
pub mod p2p;
pub mod pool;
pub mod rpc_backend;
pub mod service;
pub mod wallet;
