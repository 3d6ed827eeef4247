//! The `mining` namespace's JSON shapes.

use serde::{Deserialize, Serialize};

/// `miner_status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinerStatusJson {
    /// Whether nonce-search threads are running.
    pub running: bool,
    /// How many.
    pub threads: usize,
    /// Where rewards go, if configured.
    pub reward_address: Option<String>,
    /// Blocks this node mined that the chain accepted.
    pub blocks_found: u64,
}
