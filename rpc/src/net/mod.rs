//! The `net` namespace: the node's peers, bans, sync progress and health
//! (`net_*`, `chain_syncStatus`, `node_health`). Changing peers and bans needs admin
//! access.

pub mod api;
pub mod json;
#[cfg(feature = "server")]
pub(crate) mod server;

pub use api::*;
pub use json::*;
