//! The `mining` namespace: blocks on demand on a development chain, and the miner. Every
//! method changes what the node does and needs admin access.

pub mod api;
pub mod json;
#[cfg(feature = "server")]
pub(crate) mod server;

pub use api::*;
pub use json::*;
