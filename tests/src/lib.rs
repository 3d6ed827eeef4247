//! # tern-tests
//!
//! The multi-node test harness (N real nodes on 127.0.0.1, each with a temporary data dir)
//! and the end-to-end scenarios that run on it.
//!
//! It is empty until the node can run; consensus-level tests live beside the code in
//! `tern-core`.
