//! The `chain` namespace: the chain, its blocks and transactions, accounts, the mempool,
//! `rpc.discover`, and the subscriptions to tip changes and to a transaction's status.
//! What wallets, explorers and scripts use; safe to expose.

pub mod api;
#[cfg(feature = "server")]
mod catch_up;
#[cfg(feature = "server")]
pub mod heads;
pub mod json;
#[cfg(feature = "server")]
pub(crate) mod server;
pub mod tx_json;

pub use api::*;
pub use json::*;
pub use tx_json::*;
