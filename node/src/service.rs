//! The node service: starts the chain actor, the mempool, the network, the miner and the
//! RPC server in order, every task through one [`TaskManager`], and stops them in the
//! reverse order.
//!
//! The task tree, as [`Node::start`] builds it (critical tasks in bold; see
//! [`tern_tasks`] for what critical means):
//!
//! | task | spawned by | ends when |
//! |---|---|---|
//! | **`chain`** (OS thread) | here | shutdown, or the first store error |
//! | **`mempool follower`** | [`PoolHandle::start`] | the chain's event stream ends |
//! | **`mempool admission`** (OS threads, one per core) | [`PoolHandle::start`] | the chain stops |
//! | **`miner`**, `nonce search` (blocking) | [`MinerHandle::spawn`] | the chain stops |
//! | **`dev blocks`** (with `--automine` or `--block-time`) | [`crate::dev_blocks::spawn`] | shutdown; the chain stops |
//! | **`network`** (the connection manager), **`relay`**, **`sync`** | [`p2p::start`] | shutdown; `network` after every `peer` has ended |
//! | `peer` | the connection manager | its connection closes |
//! | `transaction admission` | the relay task | relay is gone |
//! | `block submission`, `sync snapshot steps`, `sync locator` | the sync task, [`p2p::start`] | sync is gone; the chain stops |
//! | `bans writer`, `address book writer` | the connection manager | the manager is gone and the last snapshot written |
//! | **`rpc server`** (the accept loop), **`rpc heads`** | [`tern_rpc::server::start`] | shutdown; the chain stops |
//! | `rpc connection`, `rpc http/2 stream`, `rpc refusal` | the accept loop | its connection closes |
//! | `rpc websocket`, `rpc websocket writer`, `rpc call` | an upgraded connection | its connection closes; the call is answered |
//! | **`metrics`**, `metrics connection`, `metrics follower` | [`crate::metrics::serve`] | shutdown; the chain stops |
//! | `disk space` | [`crate::disk`] | shutdown |
//! | `tip record`, `tip record writer` | [`tern_state::tip_record`] | the chain stops, and the last tip is written |
//! | `chain log` | here | the chain stops |
//!
//! Shutdown order matters: the RPC server stops taking calls first, the miner stops, peers
//! get a goodbye and the address book is saved, and only then does the chain actor flush
//! and close the store, so nothing writes to a closing store. [`Node::shutdown`] returns
//! once every task and thread has ended and the store is closed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tern_chain::genesis::ChainSpec;
use tern_chain::types::Address;
use tern_mempool::MempoolConfig;
use tern_rpc::handles::NodeHandles;
use tern_rpc::server::{RpcConfig, RunningServer};
use tern_state::chain::{self, Chain, ChainError, ChainEvent, ChainHandle, MIN_PRUNE_DEPTH};
use tokio_util::sync::CancellationToken;

use crate::dev_blocks::DevBlocks;
use crate::disk::DiskMonitor;
use crate::metrics::Metrics;
use crate::mining::{MinerHandle, MinerSettings};
use tern_mempool::PoolHandle;
use tern_p2p::{self as p2p, NetworkHandle, P2pConfig, P2pError};
use tern_state::tip_record;
use tern_tasks::fault::{FaultPlan, Part};
use tern_tasks::{CriticalFailure, FailureCause, Health, TaskManager, ThreadFailure};

/// While shutdown waits for the store to close, how often it says what it waits for.
const STORE_CLOSE_REMINDER: Duration = Duration::from_secs(10);

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
    /// Make blocks without proof-of-work pacing: automine or an interval (development
    /// chains only; [`StartError::DevBlocksNotAllowed`] otherwise).
    pub dev_blocks: Option<DevBlocks>,
    /// Where on-demand blocks (`dev_mine`, [`Self::dev_blocks`]) pay when nobody is
    /// named: dev account 0 unless set.
    pub dev_reward: Address,
    /// Where to serve `/metrics`, `/healthy` and `/ready`, if anywhere.
    pub metrics: Option<SocketAddr>,
    /// Below this much free space in the data directory, warn (bytes).
    pub min_free_space: u64,
    /// Where the node panics on purpose (tests; debug builds only).
    pub faults: FaultPlan,
    /// Keep block bodies, undo records and the transaction and history indexes for this
    /// many blocks below the tip only (at least [`MIN_PRUNE_DEPTH`]); all when `None`.
    pub prune: Option<u64>,
}

/// The default of `--min-free-space`, in MiB.
pub const DEFAULT_MIN_FREE_SPACE_MIB: u64 = 1024;

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
            dev_blocks: None,
            dev_reward: tern_chain::crypto::dev_secret_key(0).address(),
            metrics: None,
            min_free_space: DEFAULT_MIN_FREE_SPACE_MIB << 20,
            faults: FaultPlan::default(),
            prune: None,
        }
    }
}

/// Why a node could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Automine or a block interval on a chain whose blocks need proof of work.
    #[error("--automine and --block-time need a development chain (dev_mining in its spec); {chain} is not one")]
    DevBlocksNotAllowed {
        /// The chain's name.
        chain: String,
    },
    /// The store could not be opened (locked by another node, damaged, another chain).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The chain actor's thread could not be started.
    #[error("cannot start the chain thread: {0}")]
    Thread(std::io::Error),
    /// The mempool's admission threads could not be started.
    #[error("cannot start the mempool's admission threads: {0}")]
    AdmissionThreads(std::io::Error),
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

/// A running node.
#[derive(Debug)]
pub struct Node {
    tasks: TaskManager,
    chain: ChainHandle,
    pool: PoolHandle,
    miner: MinerHandle,
    network: NetworkHandle,
    network_tasks: Option<p2p::NetworkTasks>,
    rpc: Option<RunningServer>,
    /// The RPC cookie file, removed at shutdown.
    cookie: Option<PathBuf>,
    metrics_addr: Option<SocketAddr>,
    /// Stops the metrics listener and the disk monitor.
    services: CancellationToken,
    stopped: bool,
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
            dev_blocks,
            dev_reward,
            metrics,
            min_free_space,
            faults,
            prune,
        } = config;
        if dev_blocks.is_some() && !spec.dev_mining {
            return Err(StartError::DevBlocksNotAllowed { chain: spec.name });
        }
        let dir = data_dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            let mut chain = Chain::open(&dir, spec)?;
            if let Some(depth) = prune {
                chain = chain.with_prune_depth(depth.max(MIN_PRUNE_DEPTH));
            }
            if let Some(loss) = tip_record::check(&dir, &chain.tip()) {
                tip_record::report(&loss);
            }
            Ok::<_, ChainError>(chain)
        })
        .await
        .map_err(|e| StartError::Thread(std::io::Error::other(e)))??;
        let tasks = TaskManager::new();
        let executor = tasks.executor().clone();
        let (chain, actor) = chain::actor(opened);
        let fault = faults.point(Part::Chain);
        let actor = actor.with_block_hook(move |_| fault.hit());
        let supervisor = executor.clone();
        executor
            .spawn_critical_thread("chain", move || {
                // The failure is recorded before anything following the chain can see it
                // stop, so the chain, not a follower, is named as the cause.
                actor
                    .run_reporting(|ended| {
                        let cause = match ended {
                            Ok(()) => return,
                            Err(ChainError::Panicked(message)) => {
                                FailureCause::Panicked(message.clone())
                            }
                            Err(error) => FailureCause::Failed(error.to_string()),
                        };
                        supervisor.fail("chain", cause);
                    })
                    .map_err(|_| ThreadFailure::Reported)
            })
            .map_err(StartError::Thread)?;
        tip_record::spawn(&data_dir, &chain, &executor);
        let admission_fault = faults.point(Part::Admission);
        let pool = match PoolHandle::start_with_fault(
            chain.clone(),
            mempool,
            &executor,
            admission_fault,
        ) {
            Ok(pool) => pool,
            Err(error) => {
                tasks.begin_shutdown();
                chain.shutdown().await;
                drop(chain);
                tasks.wait().await;
                return Err(StartError::AdmissionThreads(error));
            }
        };
        let miner = MinerHandle::spawn(chain.clone(), pool.clone(), None, dev_reward, &executor);
        p2p.data_dir = Some(data_dir.clone());
        let started = p2p::start(p2p, chain.clone(), pool.clone(), &executor, &faults).await;
        let (network, network_tasks) = match started {
            Ok(started) => started,
            Err(error) => {
                tasks.begin_shutdown();
                chain.shutdown().await;
                drop((chain, pool, miner));
                tasks.wait().await;
                return Err(error.into());
            }
        };
        let mut node = Node {
            tasks,
            chain,
            pool,
            miner,
            network,
            network_tasks: Some(network_tasks),
            rpc: None,
            cookie: None,
            metrics_addr: None,
            services: CancellationToken::new(),
            stopped: false,
        };
        let disk = DiskMonitor::new(data_dir.clone(), min_free_space);
        let counters = Arc::new(Metrics::new(disk.free_bytes()));
        executor.spawn("disk space", disk.run(node.services.child_token()));
        if let Some(addr) = metrics {
            let served = crate::metrics::serve(
                addr,
                crate::metrics::Sources {
                    metrics: Arc::clone(&counters),
                    chain: node.chain.clone(),
                    pool: node.pool.clone(),
                    network: node.network.clone(),
                    health: node.health(),
                },
                &executor,
                node.services.child_token(),
            )
            .await;
            match served {
                Ok(bound) => node.metrics_addr = Some(bound),
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
            let cookie = tern_rpc::server::access::new_token().and_then(|token| {
                let path = tern_rpc::server::access::write_cookie(&data_dir, &token)?;
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
            let fault = faults.point(Part::Rpc);
            match tern_rpc::server::start(&node.rpc_handles(), config, &executor, fault).await {
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
        if let Some(mode) = dev_blocks {
            crate::dev_blocks::spawn(
                mode,
                node.miner.clone(),
                node.pool.clone(),
                dev_reward,
                &executor,
                node.services.child_token(),
            );
        }
        executor.spawn("chain log", log_chain_updates(node.chain.clone()));
        Ok(node)
    }

    /// The parts the RPC server answers from.
    pub fn rpc_handles(&self) -> NodeHandles {
        NodeHandles {
            chain: self.chain.clone(),
            pool: self.pool.clone(),
            network: self.network.clone(),
            health: self.health(),
            miner: Arc::new(self.miner.clone()),
        }
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

    /// Whether the node is healthy: a critical failure, once one happens.
    pub fn health(&self) -> Health {
        self.tasks.executor().health()
    }

    /// Resolves on the node's first critical failure: then it should be shut down, and the
    /// process exit non-zero.
    pub async fn failed(&self) -> Arc<CriticalFailure> {
        self.health().failed().await
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

    /// How many of the node's tasks and threads are running.
    pub fn running_tasks(&self) -> usize {
        self.tasks.running()
    }

    /// Stops every part in order, waits until every task and thread has ended, and then
    /// until the store is closed, so the data dir can be opened again at once. Returns the
    /// critical failure that took the node down, if one did.
    pub async fn shutdown(mut self) -> Option<Arc<CriticalFailure>> {
        self.stop().await;
        let failure = self.health().failure();
        let closed = self.chain.reader().closed();
        // Our own handles go last; once every task has ended, only a caller that still
        // holds a handle can keep the store open.
        drop(self);
        tokio::pin!(closed);
        while tokio::time::timeout(STORE_CLOSE_REMINDER, &mut closed)
            .await
            .is_err()
        {
            tracing::warn!("still waiting for the store to close: something holds a chain handle");
        }
        failure
    }

    async fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        self.tasks.begin_shutdown();
        if let Some(server) = self.rpc.take() {
            let _ = server.handle.stop();
            server.handle.stopped().await;
        }
        if let Some(cookie) = self.cookie.take() {
            let _ = std::fs::remove_file(cookie);
        }
        self.services.cancel();
        self.miner.stop();
        self.network.shutdown();
        if let Some(network) = self.network_tasks.take() {
            // The manager ends after every peer task has: goodbyes sent, book saved.
            network.wait().await;
        }
        self.chain.shutdown().await;
        // The rest follow the chain and end with it.
        self.tasks.wait().await;
    }
}

impl Drop for Node {
    /// A node dropped without [`Node::shutdown`] (a failing test, say) still stops its
    /// tasks and closes its store: RocksDB must not be closing while the process exits.
    fn drop(&mut self) {
        if let Some(cookie) = self.cookie.take() {
            let _ = std::fs::remove_file(cookie);
        }
        if self.stopped {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
            tokio::task::block_in_place(|| runtime.block_on(self.stop()));
        }
    }
}

/// Blocks this close to our clock are logged one line each at info; older ones (a node
/// catching up) at debug, where they do not drown everything else.
const LIVE_BLOCK_AGE_MS: u64 = 60_000;

/// One line per new block and per reorg. Ends when the chain stops.
async fn log_chain_updates(chain: ChainHandle) {
    let mut events = chain.events();
    drop(chain);
    while let Some(event) = events.next().await {
        let update = match event {
            ChainEvent::Update(update) => update,
            ChainEvent::Lagged { missed } => {
                tracing::debug!(missed, "chain log fell behind");
                continue;
            }
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
        let now = tern_chain::types::Timestamp::now().as_millis();
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
