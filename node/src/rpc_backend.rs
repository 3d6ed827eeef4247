//! The node as the RPC server sees it: [`tern_rpc::backend::NodeBackend`] over the chain
//! actor, the mempool, the miner and the network.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount, BlockHash, TxId};
use tern_mempool::MempoolStats;
use tern_state::chain::{AsyncChainReader, ChainEvent, ChainHandle};

use tern_rpc::backend::{DevMineFailure, MinerState, NetFailure, NodeBackend};
use tern_rpc::heads::HeadsLog;
use tern_rpc::jsonrpsee::core::async_trait;
use tern_rpc::net::{BanJson, NetInfoJson, PeerJson, SyncStatusJson};

use crate::mining::{MineError, MinerHandle};
use tern_mempool::{PoolHandle, SubmitError};
use tern_p2p::bans::{BanTarget, BanTargetError};
use tern_p2p::message::MessageKind;
use tern_p2p::{Direction, NetworkHandle};
use tern_tasks::{Health, TaskExecutor};

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
        let heads = Arc::new(HeadsLog::new(new_epoch(), prefix));
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
impl NodeBackend for NodeRpc {
    fn chain(&self) -> &AsyncChainReader {
        self.chain.reads()
    }

    fn failure(&self) -> Option<String> {
        self.health.failure().map(|f| f.to_string())
    }

    fn heads(&self) -> &HeadsLog {
        &self.heads
    }

    fn watch_admissions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.pool.watch_admissions()
    }

    fn sync_status(&self) -> SyncStatusJson {
        let status = self.network.sync_status();
        SyncStatusJson {
            syncing: status.syncing,
            current_height: status.current_height.value(),
            target_height: status.target_height.value(),
            blocks_per_sec: status.blocks_per_sec,
            txs_per_sec: status.txs_per_sec,
            eta_secs: status.eta_secs,
            peers: status.peers,
        }
    }

    async fn submit_transaction(&self, tx: SignedTransaction) -> Result<TxId, SubmitError> {
        self.pool.submit(tx).await.map(|admission| admission.id)
    }

    fn pending_transaction(&self, id: &TxId) -> Option<SignedTransaction> {
        self.pool.get(id)
    }

    async fn pending(&self, address: &Address) -> Result<(u64, Amount), String> {
        let nonce = self
            .pool
            .next_nonce(address)
            .await
            .map_err(|e| e.to_string())?;
        Ok((nonce, self.pool.pending_cost(address)))
    }

    fn mempool_stats(&self) -> MempoolStats {
        self.pool.stats()
    }

    fn mempool_list(&self, limit: usize) -> Vec<SignedTransaction> {
        self.pool.list(limit)
    }

    async fn dev_mine(
        &self,
        count: u64,
        reward: Address,
    ) -> Result<Vec<BlockHash>, DevMineFailure> {
        self.miner
            .mine_now(count, reward)
            .await
            .map_err(|e| match e {
                MineError::NotAllowed | MineError::TooMany(_) => {
                    DevMineFailure::NotAllowed(e.to_string())
                }
                MineError::Failed(_) => DevMineFailure::Failed(e.to_string()),
            })
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

    async fn net_info(&self) -> Result<NetInfoJson, String> {
        let info = self.network.info().await.map_err(|e| e.to_string())?;
        Ok(NetInfoJson {
            node_id: info.node_id.to_string(),
            listen_address: info.listen_addr.map(|a| a.to_string()),
            inbound: info.inbound,
            outbound: info.outbound,
            known_addresses: info.known_addresses,
            bans: info.bans,
        })
    }

    async fn net_peers(&self) -> Result<Vec<PeerJson>, String> {
        let peers = self.network.peers().await.map_err(|e| e.to_string())?;
        Ok(peers
            .into_iter()
            .map(|p| PeerJson {
                node_id: p.node_id.to_string(),
                address: p.addr.to_string(),
                listen_address: p.listen_addr.map(|a| a.to_string()),
                direction: match p.direction {
                    Direction::Inbound => "inbound".into(),
                    Direction::Outbound => "outbound".into(),
                },
                best_height: p.best_height.value(),
                best_hash: p.best_hash.to_string(),
                user_agent: p.user_agent,
                rtt_ms: p.rtt.map(|d| d.as_secs_f64() * 1_000.0),
                bytes_in: p.stats.bytes_in.load(Ordering::Relaxed),
                bytes_out: p.stats.bytes_out.load(Ordering::Relaxed),
                blocks_in: p.stats.received(MessageKind::Block),
                txs_in: p.stats.received(MessageKind::Tx),
                connected_secs: p.connected_for.as_secs(),
            })
            .collect())
    }

    async fn net_add_peer(&self, address: &str) -> Result<(), NetFailure> {
        let addr = resolve(address).await?;
        self.network
            .add_peer(addr)
            .await
            .map_err(|e| NetFailure::Unavailable(e.to_string()))
    }

    async fn net_ban(&self, target: &str, duration: Duration) -> Result<usize, NetFailure> {
        let target: BanTarget = target
            .parse()
            .map_err(|e: BanTargetError| NetFailure::Invalid(e.to_string()))?;
        self.network
            .ban(target, duration)
            .await
            .map_err(|e| NetFailure::Unavailable(e.to_string()))
    }

    async fn net_unban(&self, target: &str) -> Result<bool, NetFailure> {
        let target: BanTarget = target
            .parse()
            .map_err(|e: BanTargetError| NetFailure::Invalid(e.to_string()))?;
        self.network
            .unban(target)
            .await
            .map_err(|e| NetFailure::Unavailable(e.to_string()))
    }

    async fn net_bans(&self) -> Result<Vec<BanJson>, String> {
        let bans = self.network.bans().await.map_err(|e| e.to_string())?;
        Ok(bans
            .into_iter()
            .map(|b| BanJson {
                target: b.target,
                until_ms: b.until_ms,
                reason: b.reason,
            })
            .collect())
    }
}

/// The first address `host:port` resolves to.
async fn resolve(address: &str) -> Result<SocketAddr, NetFailure> {
    let invalid = |why: String| NetFailure::Invalid(format!("{address:?}: {why}"));
    let mut addrs = tokio::net::lookup_host(address)
        .await
        .map_err(|e| invalid(e.to_string()))?;
    addrs
        .next()
        .ok_or_else(|| invalid("resolves to no address".into()))
}
