//! The node as the RPC server sees it: each namespace's backend
//! ([`tern_rpc::backend::ChainBackend`], `MiningBackend`, `NetBackend`) over the chain
//! actor, the mempool, the miner and the network's handle.

use std::sync::Arc;

use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount, BlockHash, TxId};
use tern_mempool::{FeeBucket, FeeEstimate, Lifecycle, MempoolStats};
use tern_state::chain::{AsyncChainReader, ChainEvent, ChainHandle, TipInfo};

use tern_rpc::backend::{ChainBackend, DevMineFailure, MinerState, MiningBackend, NetBackend};
use tern_rpc::chain::heads::HeadsLog;
use tern_rpc::jsonrpsee::core::async_trait;

use crate::mining::MinerHandle;
use tern_mempool::{PoolHandle, SubmitError};
use tern_p2p::NetworkHandle;
use tern_tasks::{CriticalFailure, Health, TaskExecutor};

/// The longest a status read waits for the mempool to follow a new tip.
const POOL_CATCH_UP: std::time::Duration = std::time::Duration::from_secs(1);

/// The node's parts the RPC server uses.
#[derive(Debug, Clone)]
pub struct NodeRpc {
    chain: ChainHandle,
    pool: PoolHandle,
    miner: MinerHandle,
    network: NetworkHandle,
    health: Health,
    heads: Arc<HeadsLog>,
}

impl NodeRpc {
    /// The backend over these parts; starts the critical task `rpc heads` that records
    /// tip changes for subscribers.
    pub fn new(
        chain: ChainHandle,
        pool: PoolHandle,
        miner: MinerHandle,
        network: NetworkHandle,
        health: Health,
        tasks: &TaskExecutor,
    ) -> Self {
        let prefix = chain.reader().spec().address_prefix;
        let heads = Arc::new(HeadsLog::new(new_epoch(), chain.tip().hash, prefix));
        tasks.spawn_critical("rpc heads", record_heads(chain.clone(), Arc::clone(&heads)));
        NodeRpc {
            chain,
            pool,
            miner,
            network,
            health,
            heads,
        }
    }
}

/// A number that differs between runs of the node: the start time in nanoseconds.
fn new_epoch() -> u64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since_epoch.as_nanos()).unwrap_or(u64::MAX)
}

/// Records every chain update in `heads`; if updates were missed, starts a new epoch so
/// subscribers resync instead of missing events. Ends when the chain stops.
async fn record_heads(chain: ChainHandle, heads: Arc<HeadsLog>) {
    let mut events = chain.events();
    drop(chain);
    while let Some(event) = events.next().await {
        match event {
            ChainEvent::Update(update) => heads.record(&update),
            ChainEvent::Lagged { missed } => {
                tracing::warn!(
                    missed,
                    "head subscribers must resync: chain updates were missed"
                );
                heads.restart(new_epoch());
            }
        }
    }
}

#[async_trait]
impl ChainBackend for NodeRpc {
    fn chain(&self) -> &AsyncChainReader {
        self.chain.reads()
    }

    fn heads(&self) -> &HeadsLog {
        &self.heads
    }

    fn tip(&self) -> TipInfo {
        self.chain.tip()
    }

    fn watch_pool_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.pool.watch_changes()
    }

    fn syncing(&self) -> bool {
        self.network.sync_status().syncing
    }

    fn fetching_state(&self) -> bool {
        use tern_p2p::sync::SyncPhase;
        matches!(
            self.network.sync_status().phase,
            Some(SyncPhase::Headers | SyncPhase::State)
        )
    }

    async fn submit_transaction(&self, tx: SignedTransaction) -> Result<TxId, SubmitError> {
        self.pool.submit(tx).await.map(|admission| admission.id)
    }

    async fn pool_caught_up(&self) {
        let tip = self.chain.tip().hash;
        // Bounded: a pool that cannot follow (its store failing) is reported elsewhere.
        let _ = tokio::time::timeout(POOL_CATCH_UP, self.pool.wait_synced(tip)).await;
    }

    fn lifecycle(&self, id: &TxId) -> Lifecycle {
        self.pool.lifecycle(id)
    }

    fn was_reorged_out(&self, id: &TxId) -> bool {
        self.pool.was_reorged_out(id)
    }

    fn fee_estimate(&self, target_blocks: u64) -> FeeEstimate {
        self.pool.fee_estimate(target_blocks)
    }

    fn pending(&self, address: &Address, account: &tern_chain::state::Account) -> (u64, Amount) {
        self.pool.pending(address, account)
    }

    fn mempool_stats(&self) -> MempoolStats {
        self.pool.stats()
    }

    fn mempool_list(&self, limit: usize) -> Vec<SignedTransaction> {
        self.pool.list(limit)
    }

    fn mempool_touching(&self, address: &Address, limit: usize) -> Vec<SignedTransaction> {
        self.pool.touching(address, limit)
    }

    fn fee_histogram(&self) -> Vec<FeeBucket> {
        self.pool.fee_histogram()
    }
}

#[async_trait]
impl MiningBackend for NodeRpc {
    async fn dev_mine(
        &self,
        count: u64,
        reward: Option<Address>,
    ) -> Result<Vec<BlockHash>, DevMineFailure> {
        self.miner.mine_now(count, reward).await
    }

    fn miner_state(&self) -> MinerState {
        let status = self.miner.status();
        MinerState {
            threads: status.settings.map_or(0, |s| s.threads),
            reward: status.settings.map(|s| s.reward),
            blocks_found: status.blocks_found,
        }
    }

    fn miner_start(&self, threads: usize, reward: Address) {
        self.miner.start(threads, reward);
    }

    fn miner_stop(&self) {
        self.miner.stop();
    }
}

impl NetBackend for NodeRpc {
    fn network(&self) -> &NetworkHandle {
        &self.network
    }

    fn failure(&self) -> Option<Arc<CriticalFailure>> {
        self.health.failure()
    }
}
