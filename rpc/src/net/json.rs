//! The `net` namespace's JSON shapes.

use serde::{Deserialize, Serialize};

/// `net_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetInfoJson {
    /// This node's id: its Noise static public key, hex.
    pub node_id: String,
    /// Where it accepts peers, if it does.
    pub listen_address: Option<String>,
    /// Connected peers that dialled us.
    pub inbound: usize,
    /// Connected peers we dialled.
    pub outbound: usize,
    /// Addresses in the address book.
    pub known_addresses: usize,
    /// Bans in force.
    pub bans: usize,
}

/// One entry of `net_peers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerJson {
    /// Its id.
    pub node_id: String,
    /// The connection's remote address.
    pub address: String,
    /// Where it accepts connections, if known.
    pub listen_address: Option<String>,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Its tip height as last heard.
    pub best_height: u64,
    /// Its tip as last heard.
    pub best_hash: String,
    /// Its software.
    pub user_agent: String,
    /// The last ping round trip in milliseconds, once measured.
    pub rtt_ms: Option<f64>,
    /// Bytes received from it.
    pub bytes_in: u64,
    /// Bytes sent to it.
    pub bytes_out: u64,
    /// Blocks received from it, whole or compact.
    pub blocks_in: u64,
    /// Transactions received from it.
    pub txs_in: u64,
    /// Seconds since it connected.
    pub connected_secs: u64,
    /// It pushes new blocks to us as compact blocks, at our request: one of the three
    /// peers that last delivered a new block first (high-bandwidth mode).
    pub pushes_blocks: bool,
    /// We push new blocks to it as compact blocks, at its request.
    pub pushed_blocks: bool,
}

/// One entry of `net_bans`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BanJson {
    /// A node id or an IP address.
    pub target: String,
    /// When the ban ends, in milliseconds since the Unix epoch.
    pub until_ms: u64,
    /// Why.
    pub reason: String,
}

/// `chain_syncStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatusJson {
    /// Whether the node is behind its peers and catching up.
    pub syncing: bool,
    /// Our tip height.
    pub current_height: u64,
    /// The best height our peers have shown.
    pub target_height: u64,
    /// Blocks connected per second over the last seconds.
    pub blocks_per_sec: f64,
    /// Transactions connected per second over the last seconds.
    pub txs_per_sec: f64,
    /// Seconds to reach the target at that rate, if moving.
    pub eta_secs: Option<u64>,
    /// Peers with blocks in flight to us.
    pub peers: usize,
    /// No peer is connected, though the node had one or was given some: the chain may
    /// be moving on without it. Never true for a node started alone.
    pub isolated: bool,
    /// How the node joins: `full` (every block since genesis) or `snapshot`.
    pub mode: String,
    /// While a node joining by snapshot syncs: `headers`, `state` or `blocks`; else
    /// null.
    pub phase: Option<String>,
    /// The state download of a snapshot sync, once its pivot is chosen; else null.
    pub state: Option<StateProgressJson>,
}

/// The state download in `chain_syncStatus`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateProgressJson {
    /// The height of the block whose state is fetched.
    pub pivot_height: u64,
    /// Chunks written.
    pub chunks_done: u64,
    /// Chunks written and still to fetch, estimated from the account counts peers claim.
    pub chunks_total: u64,
    /// Accounts written.
    pub accounts: u64,
    /// Chunk bytes received.
    pub bytes: u64,
    /// Accounts written per second over the last seconds.
    pub accounts_per_sec: f64,
    /// Seconds to the end of the state at that rate, if moving.
    pub eta_secs: Option<u64>,
}

/// `node_health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthJson {
    /// `ok`, `syncing`, `no_peers` or `failed`.
    pub status: String,
    /// A sentence saying why.
    pub reason: String,
    /// Connected peers.
    pub peers: usize,
    /// Our tip height.
    pub height: u64,
}
