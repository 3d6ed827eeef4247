//! # tern-rpc
//!
//! The JSON-RPC interface of a Tern node: one jsonrpsee API definition that yields both the
//! server and a typed Rust client, the JSON shapes converted from [`tern_core`] types, the
//! error codes and the server's limits.
//!
//! It is empty until the JSON-RPC issue lands.
