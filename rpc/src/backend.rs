//! What the RPC server needs from the node. The node implements [`NodeBackend`]; the RPC
//! crate never reaches into P2P or mining internals.

use jsonrpsee::core::async_trait;
use tern_state::chain::AsyncChainReader;

use crate::heads::HeadsLog;
use crate::net::{BanJson, NetInfoJson, PeerJson, SyncStatusJson};
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount, BlockHash, TxId};
use tern_mempool::{MempoolStats, SubmitError};

/// The most nonce-search threads a miner runs: what `tern node --mine-threads`, the config
/// file and `miner_start` accept (from 1). Each is an OS thread, so an unchecked count
/// from a caller would start hundreds of them.
pub const MAX_MINER_THREADS: usize = 256;

/// Why on-demand mining failed.
#[derive(Debug, thiserror::Error)]
pub enum DevMineFailure {
    /// The chain does not allow it.
    #[error("{0}")]
    NotAllowed(String),
    /// It was tried and failed.
    #[error("{0}")]
    Failed(String),
}

/// Why a network request failed.
#[derive(Debug, thiserror::Error)]
pub enum NetFailure {
    /// The parameter is not an address, node id or IP address the node can use.
    #[error("{0}")]
    Invalid(String),
    /// The network layer could not answer.
    #[error("{0}")]
    Unavailable(String),
}

/// The miner's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinerState {
    /// Nonce-search threads running (0: stopped).
    pub threads: usize,
    /// Where rewards go.
    pub reward: Option<Address>,
    /// Blocks mined and accepted.
    pub blocks_found: u64,
}

/// The node, as the RPC server sees it.
#[async_trait]
pub trait NodeBackend: Send + Sync + 'static {
    /// Chain queries, run off the async threads.
    fn chain(&self) -> &AsyncChainReader;
    /// Why the node is failing (a critical task died or the store cannot be written), if
    /// it is: then it is stopping, and must not be trusted.
    fn failure(&self) -> Option<String>;
    /// The stream of tip changes, kept up to date by the node.
    fn heads(&self) -> &HeadsLog;
    /// A receiver that changes whenever the mempool admits a transaction.
    fn watch_admissions(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Whether the node is catching up with its peers.
    fn syncing(&self) -> bool {
        self.sync_status().syncing
    }
    /// Where sync stands.
    fn sync_status(&self) -> SyncStatusJson;
    /// Admits a transaction to the mempool (the same path as a peer's).
    async fn submit_transaction(&self, tx: SignedTransaction) -> Result<TxId, SubmitError>;
    /// A pending transaction.
    fn pending_transaction(&self, id: &TxId) -> Option<SignedTransaction>;
    /// The next nonce `address` should use and the cost of its pending transactions.
    async fn pending(&self, address: &Address) -> Result<(u64, Amount), String>;
    /// Mempool figures.
    fn mempool_stats(&self) -> MempoolStats;
    /// Up to `limit` pending transactions, best-paying first.
    fn mempool_list(&self, limit: usize) -> Vec<SignedTransaction>;
    /// Mines `count` blocks now (development chains only).
    async fn dev_mine(&self, count: u64, reward: Address)
        -> Result<Vec<BlockHash>, DevMineFailure>;
    /// The miner's state.
    fn miner_state(&self) -> MinerState;
    /// Starts mining with `threads` threads (1 to [`MAX_MINER_THREADS`]) paying `reward`.
    fn miner_start(&self, threads: usize, reward: Address);
    /// Stops mining.
    fn miner_stop(&self);
    /// The network's identity and counts.
    async fn net_info(&self) -> Result<NetInfoJson, String>;
    /// The connected peers.
    async fn net_peers(&self) -> Result<Vec<PeerJson>, String>;
    /// Connects to `address` (`host:port`) and keeps it as a seed.
    async fn net_add_peer(&self, address: &str) -> Result<(), NetFailure>;
    /// Bans a node id or IP address and disconnects it; how many connections closed.
    async fn net_ban(
        &self,
        target: &str,
        duration: std::time::Duration,
    ) -> Result<usize, NetFailure>;
    /// Lifts a ban; false if there was none.
    async fn net_unban(&self, target: &str) -> Result<bool, NetFailure>;
    /// The bans in force.
    async fn net_bans(&self) -> Result<Vec<BanJson>, String>;
}
