//! `tern wallet`: keys in an encrypted file, everything else through a node's JSON-RPC.

pub mod cli;
pub mod keystore;
