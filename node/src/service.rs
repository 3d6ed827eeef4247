//! The node service: starts the chain actor, the mempool, the network, the miner and the
//! RPC server in order, and stops them in the reverse order.
//!
//! Shutdown order matters: the RPC server stops taking calls first, the miner stops, peers
//! get a goodbye and the address book is saved, and only then does the chain actor flush
//! and close the store, so nothing writes to a closing store.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tern_core::chain::{self, Chain, ChainError, ChainHandle};
use tern_core::genesis::ChainSpec;
use tern_core::mempool::MempoolConfig;
use tern_rpc::server::{RpcConfig, RunningServer};
use tokio::task::JoinHandle;

use crate::metrics::Metrics;
use crate::mining::{MinerHandle, MinerSettings};
use crate::p2p::{self, NetworkHandle, P2pConfig, P2pError};
use crate::pool::PoolHandle;
use crate::rpc_backend::NodeRpc;

/// How long the network gets to say goodbye and save its files at shutdown.
pub const NETWORK_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// How long shutdown waits for the last reader of the store to let go.
pub const STORE_CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Everything a node needs to start.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The chain to follow.
    pub spec: ChainSpec,
    /// Where the store, node key, address book and bans live.
    pub data_dir: PathBuf,
    /// The network layer; its `data_dir` is set to [`Self::data_dir`].
    pub p2p: P2pConfig,
    /// The RPC server, if any.
    pub rpc: Option<RpcConfig>,
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Mine from the start with these settings.
    pub mining: Option<MinerSettings>,
    /// Where to serve `/metrics`, `/healthy` and `/ready`, if anywhere.
    pub metrics: Option<SocketAddr>,
}

impl NodeConfig {
    /// A configuration with defaults for everything but the chain and the data dir.
    pub fn new(spec: ChainSpec, data_dir: PathBuf) -> NodeConfig {
        NodeConfig {
            spec,
            data_dir,
            p2p: P2pConfig::default(),
            rpc: Some(RpcConfig::default()),
            mempool: MempoolConfig::default(),
            mining: None,
            metrics: None,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened (locked by another node, damaged, another chain).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain actor's thread could not be started.
    #[error("cannot start the chain thread: {0}")]
    Thread(std::io::Error),
    /// The network layer could not start.
    #[error(transparent)]
    P2p(#[from] P2pError),
    /// The RPC cookie file could not be written.
    #[error("cannot write the RPC cookie file: {0}")]
    Cookie(std::io::Error),
    /// The metrics listener could not listen.
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The RPC server could not listen.
    #[error("cannot listen for RPC on {addr}: {source}")]
    Rpc {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

type ChainThread = std::thread::JoinHandle<Result<(), ChainError>>;

/// A running node.
#[derive(Debug)]
pub struct Node {
    chain: ChainHandle,
    pool: PoolHandle,
    miner: MinerHandle,
    network: NetworkHandle,
    rpc: Option<RunningServer>,
    /// The RPC cookie file, removed at shutdown.
    cookie: Option<PathBuf>,
    metrics_addr: Option<SocketAddr>,
    metrics_tasks: Vec<JoinHandle<()>>,
    network_task: Option<JoinHandle<()>>,
    pool_task: JoinHandle<()>,
    chain_thread: Option<ChainThread>,
}

impl Node {
    /// Opens the store and starts every part. If a part fails to start, those already
    /// started are stopped again before the error is returned.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        let NodeConfig {
            spec,
            data_dir,
            mut p2p,
            rpc,
            mempool,
            mining,
            metrics,
        } = config;
        let dir = data_dir.clone();
        let opened = tokio::task::spawn_blocking(move || Chain::open(&dir, spec))
            .await
            .map_err(|e| StartError::Thread(std::io::Error::other(e)))??;
        let (chain, chain_thread) = chain::spawn(opened).map_err(StartError::Thread)?;
        let (pool, pool_task) = PoolHandle::start(chain.clone(), mempool);
        let miner = MinerHandle::spawn(chain.clone(), pool.clone(), None);
        p2p.data_dir = Some(data_dir.clone());
        let network = match p2p::start(p2p, chain.clone(), pool.clone()).await {
            Ok(network) => network,
            Err(error) => {
                stop_chain(&chain, chain_thread).await;
                return Err(error.into());
            }
        };
        let (network, network_task) = network;
        let mut node = Node {
            chain,
            pool,
            miner,
            network,
            rpc: None,
            cookie: None,
            metrics_addr: None,
            metrics_tasks: Vec::new(),
            network_task: Some(network_task),
            pool_task,
            chain_thread: Some(chain_thread),
        };
        let counters = Arc::new(Metrics::default());
        if let Some(addr) = metrics {
            let served = crate::metrics::serve(
                addr,
                Arc::clone(&counters),
                node.chain.clone(),
                node.pool.clone(),
                node.network.clone(),
            )
            .await;
            match served {
                Ok((bound, tasks)) => {
                    node.metrics_addr = Some(bound);
                    node.metrics_tasks = tasks;
                }
                Err(source) => {
                    node.stop().await;
                    return Err(StartError::Metrics { addr, source });
                }
            }
        }
        if let Some(mut config) = rpc {
            config.metrics = Some(Arc::clone(&counters.rpc));
            let addr = config.addr;
            // A fresh admin token each start, in the data dir for local tools to read.
            let cookie = tern_rpc::access::new_token().and_then(|token| {
                let path = tern_rpc::access::write_cookie(&data_dir, &token)?;
                Ok((token, path))
            });
            match cookie {
                Ok((token, path)) => {
                    config.cookie = Some(token);
                    node.cookie = Some(path);
                }
                Err(source) => {
                    node.stop().await;
                    return Err(StartError::Cookie(source));
                }
            }
            let backend = Arc::new(NodeRpc::new(
                node.chain.clone(),
                node.pool.clone(),
                node.miner.clone(),
                node.network.clone(),
            ));
            match tern_rpc::server::start(backend, config).await {
                Ok(server) => node.rpc = Some(server),
                Err(source) => {
                    node.stop().await;
                    return Err(StartError::Rpc { addr, source });
                }
            }
        }
        if let Some(settings) = mining {
            node.miner.start(settings.threads, settings.reward);
        }
        tokio::spawn(log_chain_updates(node.chain.clone()));
        Ok(node)
    }

    /// The chain actor.
    pub fn chain(&self) -> &ChainHandle {
        &self.chain
    }

    /// The mempool.
    pub fn pool(&self) -> &PoolHandle {
        &self.pool
    }

    /// The miner.
    pub fn miner(&self) -> &MinerHandle {
        &self.miner
    }

    /// The network layer.
    pub fn network(&self) -> &NetworkHandle {
        &self.network
    }

    /// Where the RPC server listens, if it runs.
    pub fn rpc_addr(&self) -> Option<SocketAddr> {
        self.rpc.as_ref().map(|server| server.addr)
    }

    /// The RPC cookie file holding this run's admin token, if RPC is served.
    pub fn cookie_path(&self) -> Option<&std::path::Path> {
        self.cookie.as_deref()
    }

    /// Where `/metrics`, `/healthy` and `/ready` are served, if they are.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Where the node accepts peers, if it listens.
    pub fn p2p_addr(&self) -> Option<SocketAddr> {
        self.network.listen_addr()
    }

    /// Stops every part in order and waits until the store is closed, so the data dir
    /// can be opened again at once.
    pub async fn shutdown(mut self) {
        self.stop().await;
        let closed = self.chain.reader().closed();
        // Our own handles go first; the tasks that still hold one end on their own once
        // the chain has stopped.
        drop(self);
        if tokio::time::timeout(STORE_CLOSE_TIMEOUT, closed)
            .await
            .is_err()
        {
            tracing::warn!("the store is still open: a task holds a chain reader");
        }
    }

    async fn stop(&mut self) {
        if let Some(server) = self.rpc.take() {
            let _ = server.handle.stop();
            server.handle.stopped().await;
        }
        if let Some(cookie) = self.cookie.take() {
            let _ = std::fs::remove_file(cookie);
        }
        for task in self.metrics_tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        self.miner.stop();
        self.network.shutdown();
        if let Some(task) = self.network_task.take() {
            if tokio::time::timeout(NETWORK_STOP_TIMEOUT, task)
                .await
                .is_err()
            {
                tracing::warn!("the network did not stop in time");
            }
        }
        if let Some(thread) = self.chain_thread.take() {
            stop_chain(&self.chain, thread).await;
        }
        self.pool_task.abort();
    }
}

impl Drop for Node {
    /// A node dropped without [`Node::shutdown`] (a failing test, say) still closes its
    /// store: RocksDB must not be closing while the process exits.
    fn drop(&mut self) {
        if let Some(cookie) = self.cookie.take() {
            let _ = std::fs::remove_file(cookie);
        }
        let Some(thread) = self.chain_thread.take() else {
            return;
        };
        self.network.shutdown();
        let chain = self.chain.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| {
                runtime.block_on(chain.shutdown());
                let _ = thread.join();
            });
        }
    }
}

async fn stop_chain(chain: &ChainHandle, thread: ChainThread) {
    chain.shutdown().await;
    match tokio::task::spawn_blocking(move || thread.join()).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => tracing::error!(%error, "the chain did not close cleanly"),
        _ => tracing::error!("the chain thread panicked"),
    }
}

/// Blocks this close to our clock are logged one line each at info; older ones (a node
/// catching up) at debug, where they do not drown everything else.
const LIVE_BLOCK_AGE_MS: u64 = 60_000;

/// One line per new block and per reorg. Ends when the chain stops.
async fn log_chain_updates(chain: ChainHandle) {
    let mut updates = chain.subscribe();
    let mut tips = chain.watch_tip();
    drop(chain);
    loop {
        let update = tokio::select! {
            update = updates.recv() => update,
            changed = tips.changed() => match changed {
                Ok(()) => continue,
                Err(_) => return,
            },
        };
        let update = match update {
            Ok(update) => update,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "chain log fell behind");
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if !update.disconnected.is_empty() {
            tracing::warn!(
                depth = update.disconnected.len(),
                connected = update.connected.len(),
                tip = %update.tip.hash,
                height = update.tip.height().value(),
                "reorg"
            );
        }
        let now = tern_core::types::Timestamp::now().as_millis();
        for block in &update.connected {
            let age = now.saturating_sub(block.header.timestamp.as_millis());
            if age <= LIVE_BLOCK_AGE_MS {
                tracing::info!(
                    height = block.header.height.value(),
                    txs = block.transactions.len(),
                    hash = %block.hash(),
                    "block connected"
                );
            } else {
                tracing::debug!(height = block.header.height.value(), hash = %block.hash(), "block connected");
            }
        }
    }
}
