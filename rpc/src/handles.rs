//! What the RPC server answers from: the node's own handles to its chain, mempool,
//! network and health, which the namespaces hold and call directly, and the miner, which
//! lives in the node crate and is reached through [`Miner`], the one trait the server
//! needs. The RPC crate never reaches into the network's or the miner's internals.

use std::sync::Arc;

use jsonrpsee::core::async_trait;
use tern_chain::error::BlockError;
use tern_chain::types::{Address, BlockHash};
use tern_mempool::PoolHandle;
use tern_p2p::NetworkHandle;
use tern_state::chain::{ChainError, ChainHandle, Rejection};
use tern_state::store::StoreError;
use tern_tasks::Health;

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

/// The node's parts the namespaces answer from.
#[derive(Debug, Clone)]
pub struct NodeHandles {
    /// The chain actor: the tip, reads off the async threads, chain events.
    pub chain: ChainHandle,
    /// The mempool.
    pub pool: PoolHandle,
    /// The running network layer.
    pub network: NetworkHandle,
    /// Whether the node is failing, for `node_health`.
    pub health: Health,
    /// The miner.
    pub miner: Arc<dyn Miner>,
}

/// What the `mining` namespace needs of the node's miner: a trait because the miner
/// lives in the node crate, above this one.
#[async_trait]
pub trait Miner: std::fmt::Debug + Send + Sync + 'static {
    /// Mines `count` blocks now (development chains only), paying `reward` or, when that
    /// is `None`, the node's dev reward address.
    async fn mine_now(
        &self,
        count: u64,
        reward: Option<Address>,
    ) -> Result<Vec<BlockHash>, DevMineFailure>;
    /// The miner's state.
    fn state(&self) -> MinerState;
    /// Starts mining with `threads` threads (1 to [`MAX_MINER_THREADS`]) paying `reward`.
    fn start(&self, threads: usize, reward: Address);
    /// Stops mining.
    fn stop(&self);
}
