//! # tern-tests
//!
//! End-to-end scenarios that run Tern as real processes, and what they share.
//!
//! - [`blockfile`]: a file of blocks, so a scenario generated once can be imported by a
//!   child process many times.
//! - the `chain-importer` binary: imports a block file into a data directory, or audits
//!   one (with `tern_state::chain::check_store`); the crash test kills it with SIGKILL at
//!   random moments.
//!
//! - [`net`]: the multi-node harness: real nodes in this process, each with its own data
//!   dir, talking over TCP on 127.0.0.1.
//! - [`http`]: plain HTTP/1.1 requests, for health checks and raw JSON-RPC calls.
//! - [`ws`]: a bare WebSocket client, for load on the RPC port.
//!
//! Hostile peers come from `tern_p2p::hostile` (the `hostile` feature), which the
//! fault-injecting testnet shares.

pub mod blockfile;
pub mod http;
pub mod net;
pub mod ws;
