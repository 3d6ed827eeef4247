//! What the RPC server needs from the node, one trait per namespace. The node implements
//! them; the server turns what they return (domain types and typed errors) into JSON. The
//! RPC crate never reaches into the network's or the miner's internals: the network
//! namespace works through the network's own handle.

use jsonrpsee::core::async_trait;
use tern_chain::error::BlockError;
use tern_chain::state::Account;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount, BlockHash, TxId};
use tern_mempool::{FeeBucket, FeeEstimate, Lifecycle, MempoolStats, SubmitError};
use tern_p2p::NetworkHandle;
use tern_state::chain::{AsyncChainReader, ChainError, Rejection, TipInfo};
use tern_state::store::StoreError;
use tern_tasks::CriticalFailure;

use crate::chain::heads::HeadsLog;

/// The most nonce-search threads a miner runs: what `tern node --mine-threads`, the config
/// file and `miner_start` accept (from 1). Each is an OS thread, so an unchecked count
/// from a caller would start hundreds of them.
pub const MAX_MINER_THREADS: usize = 256;

/// Why on-demand mining failed.
#[derive(Debug, thiserror::Error)]
pub enum DevMineFailure {
    /// The chain's spec does not allow on-demand blocks.
    #[error("this chain does not allow on-demand mining (dev_mining is off in its spec)")]
    NotAllowed,
    /// More blocks than one call may mine.
    #[error("at most {max} blocks can be mined per call, {asked} were asked for")]
    TooMany {
        /// The count asked for.
        asked: u64,
        /// The most one call mines.
        max: u64,
    },
    /// The chain refused a block mined on its own tip (a bug in block assembly).
    #[error("the chain refused a mined block: {0}")]
    Refused(Rejection),
    /// A block assembled from the mempool breaks a rule on the tip (a bug in block
    /// assembly: the mempool offers only what applies).
    #[error("mining failed: the assembled block breaks a rule: {0}")]
    Assembly(BlockError),
    /// The chain could not place a mined block: its parent is unknown.
    #[error("the chain could not place a mined block: its parent is unknown")]
    Orphaned,
    /// The chain stopped, or could not take the block.
    #[error("mining failed: {0}")]
    Chain(#[from] ChainError),
    /// The store could not be read to build on the tip.
    #[error("mining failed: {0}")]
    Store(#[from] StoreError),
    /// The tip's own block is not in the index (a damaged store).
    #[error("mining failed: the tip is not in the index")]
    TipNotIndexed,
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

/// What the `chain` namespace needs: the chain's reader and events, and the mempool.
#[async_trait]
pub trait ChainBackend: Send + Sync + 'static {
    /// Chain queries, run off the async threads.
    fn chain(&self) -> &AsyncChainReader;
    /// The stream of tip changes, kept up to date by the node.
    fn heads(&self) -> &HeadsLog;
    /// The tip as the chain last published it, from memory: published before any caller
    /// that added a block is answered, so it is never behind what a client was told.
    fn tip(&self) -> TipInfo;
    /// A receiver that changes whenever a transaction's lifecycle in the mempool may
    /// have: on every admission and every chain update the mempool applied.
    fn watch_pool_changes(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Whether the node is catching up with its peers.
    fn syncing(&self) -> bool;
    /// Whether the node is joining by snapshot and its accounts are not yet those of
    /// any block (the state is being fetched, or is about to be): account answers would
    /// mix the pivot's accounts with genesis's tip.
    fn fetching_state(&self) -> bool;
    /// Admits a transaction to the mempool (the same path as a peer's).
    async fn submit_transaction(&self, tx: SignedTransaction) -> Result<TxId, SubmitError>;
    /// Waits (briefly) until the mempool has followed the chain to its current tip, so
    /// that a transaction a block just took out of the chain is found back in the pool
    /// rather than nowhere.
    async fn pool_caught_up(&self);
    /// What the mempool knows of a transaction: pending and why, dropped and why.
    fn lifecycle(&self, id: &TxId) -> Lifecycle;
    /// Whether a reorg took a transaction out of the chain (within the mempool's memory).
    fn was_reorged_out(&self, id: &TxId) -> bool;
    /// The fee to be mined within `target_blocks` blocks.
    fn fee_estimate(&self, target_blocks: u64) -> FeeEstimate;
    /// The next nonce `address` should use, whose account at the tip is `account`, and
    /// the cost of its pending transactions.
    fn pending(&self, address: &Address, account: &Account) -> (u64, Amount);
    /// Mempool figures.
    fn mempool_stats(&self) -> MempoolStats;
    /// Up to `limit` pending transactions, best-paying first.
    fn mempool_list(&self, limit: usize) -> Vec<SignedTransaction>;
    /// Up to `limit` pending transactions sent by or paying `address`.
    fn mempool_touching(&self, address: &Address, limit: usize) -> Vec<SignedTransaction>;
    /// Every pending transaction counted by fee, highest first.
    fn fee_histogram(&self) -> Vec<FeeBucket>;
}

/// What the `mining` namespace needs: the miner. Addresses are read under the chain's
/// prefix, hence the chain namespace's backend too.
#[async_trait]
pub trait MiningBackend: ChainBackend {
    /// Mines `count` blocks now (development chains only), paying `reward` or, when that
    /// is `None`, the node's dev reward address.
    async fn dev_mine(
        &self,
        count: u64,
        reward: Option<Address>,
    ) -> Result<Vec<BlockHash>, DevMineFailure>;
    /// The miner's state.
    fn miner_state(&self) -> MinerState;
    /// Starts mining with `threads` threads (1 to [`MAX_MINER_THREADS`]) paying `reward`.
    fn miner_start(&self, threads: usize, reward: Address);
    /// Stops mining.
    fn miner_stop(&self);
}

/// What the `net` namespace needs: the network's handle, and whether the node is failing
/// (for `node_health`, beside the tip the chain namespace's backend reads).
pub trait NetBackend: ChainBackend {
    /// The running network layer.
    fn network(&self) -> &NetworkHandle;
    /// Why the node is failing (a critical task died or the store cannot be written), if
    /// it is: then it is stopping, and must not be trusted.
    fn failure(&self) -> Option<std::sync::Arc<CriticalFailure>>;
}

/// The whole node, as the server sees it: every namespace's backend.
pub trait NodeBackend: ChainBackend + MiningBackend + NetBackend {}

impl<B: ChainBackend + MiningBackend + NetBackend> NodeBackend for B {}
