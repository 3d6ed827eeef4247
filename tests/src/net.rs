//! A multi-node harness: real nodes (chain actor, RocksDB store, mempool, network, miner)
//! in this process, each with its own data dir, talking over TCP on 127.0.0.1, or through
//! the testnet's link layer ([`linked`]) where a test cuts the network.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_chain::crypto::dev_secret_key;
use tern_chain::genesis::ChainSpec;
use tern_chain::tx::{SignedTransaction, Transaction};
use tern_chain::types::{Amount, BlockHash, TxId};
use tern_mempool::MempoolConfig;
use tern_node::service::{Node, NodeConfig, StartError};
use tern_p2p::sync::SyncMode;
use tern_p2p::P2pConfig;
use tern_rpc::server::RpcConfig;
use tern_tasks::fault::FaultPlan;
use tern_tasks::CriticalFailure;
use tern_testnet::links::{LinkLayer, LinkProfile, NodeAddrs};

/// How a test node is set up.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The chain.
    pub spec: ChainSpec,
    /// Peers to dial at start.
    pub seeds: Vec<SocketAddr>,
    /// Outbound connections to keep.
    pub outbound_target: usize,
    /// Ping interval and timeout.
    pub ping: (Duration, Duration),
    /// Mempool limits.
    pub mempool: MempoolConfig,
    /// Whether to serve RPC (on a free port).
    pub rpc: bool,
    /// Time a peer has to deliver what was asked of it.
    pub request_timeout: Duration,
    /// Whether to serve metrics and health (on a free port).
    pub metrics: bool,
    /// Where the node panics on purpose.
    pub faults: FaultPlan,
    /// How long one message may take to write to a peer.
    pub write_timeout: Duration,
    /// How the node joins, and a snapshot's pivot depth.
    pub sync: (SyncMode, u64),
    /// The prune depth, if it prunes.
    pub prune: Option<u64>,
    /// Where it listens for peers, and the address it dials them from.
    pub p2p: (SocketAddr, Option<IpAddr>),
}

impl NodeOptions {
    /// A dev-chain node with no peers, a small outbound target and no RPC.
    pub fn dev() -> NodeOptions {
        NodeOptions {
            spec: dev_spec(),
            seeds: Vec::new(),
            outbound_target: 8,
            ping: (Duration::from_secs(30), Duration::from_secs(20)),
            mempool: MempoolConfig::default(),
            rpc: false,
            request_timeout: P2pConfig::default().request_timeout,
            metrics: false,
            faults: FaultPlan::default(),
            write_timeout: P2pConfig::default().write_timeout,
            sync: (SyncMode::Full, P2pConfig::default().pivot_depth),
            prune: None,
            p2p: (SocketAddr::from(([127, 0, 0, 1], 0)), None),
        }
    }

    /// The same, joining by snapshot with its pivot `pivot_depth` below the best header.
    pub fn with_snapshot_sync(mut self, pivot_depth: u64) -> NodeOptions {
        self.sync = (SyncMode::Snapshot, pivot_depth);
        self
    }

    /// The same, dialling `seeds`.
    pub fn with_seeds(mut self, seeds: &[SocketAddr]) -> NodeOptions {
        self.seeds = seeds.to_vec();
        self
    }

    /// The same, keeping `target` outbound connections.
    pub fn with_outbound_target(mut self, target: usize) -> NodeOptions {
        self.outbound_target = target;
        self
    }
}

/// A transfer of `amount` from dev account `from` to dev account `to` with `nonce`, on
/// `spec`'s chain, paying a fee of 1,000 (above every test pool's minimum).
pub fn dev_transfer(
    spec: &ChainSpec,
    from: u32,
    to: u32,
    amount: u64,
    nonce: u64,
) -> SignedTransaction {
    let key = dev_secret_key(from);
    Transaction {
        chain_id: spec.consensus.chain_id,
        from: key.address(),
        to: dev_secret_key(to).address(),
        amount: Amount::from_base_units(amount),
        fee: Amount::from_base_units(1_000),
        nonce,
    }
    .sign(&key)
}

/// The dev chain spec.
pub fn dev_spec() -> ChainSpec {
    // The dev spec is compiled in; resolving it cannot fail.
    #[allow(clippy::expect_used)]
    ChainSpec::resolve("dev").expect("the built-in dev chain spec")
}

/// A node and its data dir (removed when the node is dropped, unless kept).
#[derive(Debug)]
pub struct TestNode {
    /// The running node.
    pub node: Node,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl TestNode {
    /// Starts a node in a fresh temporary data dir.
    pub async fn start(options: NodeOptions) -> Result<TestNode, StartError> {
        let temp = tempfile::tempdir().map_err(StartError::Thread)?;
        let dir = temp.path().to_path_buf();
        let node = Node::start(config(options, &dir)).await?;
        Ok(TestNode {
            node,
            dir,
            _temp: Some(temp),
        })
    }

    /// Starts a node in `dir`, which the caller owns (to restart a node on it).
    pub async fn start_in(options: NodeOptions, dir: &Path) -> Result<TestNode, StartError> {
        let node = Node::start(config(options, dir)).await?;
        Ok(TestNode {
            node,
            dir: dir.to_path_buf(),
            _temp: None,
        })
    }

    /// The node's data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the node accepts peers.
    pub fn p2p_addr(&self) -> SocketAddr {
        // Test nodes always listen.
        #[allow(clippy::expect_used)]
        self.node.p2p_addr().expect("test nodes listen")
    }

    /// How many peers are connected now.
    pub async fn peer_count(&self) -> usize {
        self.node.network().peers().await.map_or(0, |p| p.len())
    }

    /// Whether exactly `count` peers are connected within `patience`.
    pub async fn reaches_peers(&self, count: usize, patience: Duration) -> bool {
        eventually(patience, || async move { self.peer_count().await == count }).await
    }

    /// Whether the tip is `tip` within `patience`.
    pub async fn reaches_tip(&self, tip: BlockHash, patience: Duration) -> bool {
        let mut tips = self.node.chain().watch_tip();
        let reached = tokio::time::timeout(patience, tips.wait_for(|t| t.hash == tip)).await;
        reached.is_ok_and(|r| r.is_ok())
    }

    /// Whether the mempool holds `id` within `patience`.
    pub async fn has_pending(&self, id: TxId, patience: Duration) -> bool {
        eventually(patience, || async move { self.node.pool().contains(&id) }).await
    }

    /// Stops the node in order and returns the critical failure that took it down, if
    /// one did.
    pub async fn stop(self) -> Option<Arc<CriticalFailure>> {
        self.node.shutdown().await
    }

    /// Stops the node cleanly. A critical failure during its life (a panic in any task,
    /// a critical task that ended) fails the test, and so does a shutdown that takes
    /// longer than [`SHUTDOWN_PATIENCE`]: the node waits for its store to close for as long
    /// as anything holds a chain handle, and a test that kept one would otherwise hang.
    #[allow(clippy::panic)]
    pub async fn shutdown(self) {
        match tokio::time::timeout(SHUTDOWN_PATIENCE, self.stop()).await {
            Err(_) => panic!(
                "the node did not stop within {SHUTDOWN_PATIENCE:?}: does the test still hold \
                 a chain reader or a pool handle of it?"
            ),
            Ok(Some(failure)) => panic!("the node failed: {failure}"),
            Ok(None) => {}
        }
    }
}

fn config(options: NodeOptions, dir: &Path) -> NodeConfig {
    let mut config = NodeConfig::new(options.spec, dir.to_path_buf());
    config.p2p = P2pConfig {
        listen: Some(options.p2p.0),
        dial_from: options.p2p.1,
        seeds: options.seeds,
        outbound_target: options.outbound_target,
        // Every test node is on 127.0.0.1.
        max_inbound_per_ip: 64,
        ping_interval: options.ping.0,
        ping_timeout: options.ping.1,
        request_timeout: options.request_timeout,
        write_timeout: options.write_timeout,
        sync_mode: options.sync.0,
        pivot_depth: options.sync.1,
        ..P2pConfig::default()
    };
    config.rpc = options.rpc.then(|| RpcConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        admin: true,
        ..RpcConfig::default()
    });
    config.mempool = options.mempool;
    config.faults = options.faults;
    config.prune = options.prune;
    config.metrics = options
        .metrics
        .then(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    config
}

/// How long [`TestNode::shutdown`] waits for a node to stop.
pub const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(60);

/// Waits until `condition` holds, checking every 20 ms; false if `timeout` passes first.
pub async fn eventually<F, Fut>(timeout: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A line of `length` nodes, each dialling only the one before it (outbound target 1), once
/// every node has its neighbours.
pub async fn line(length: usize, options: NodeOptions) -> Result<Vec<TestNode>, StartError> {
    let mut nodes: Vec<TestNode> = Vec::with_capacity(length);
    for _ in 0..length {
        let seeds: Vec<SocketAddr> = nodes.last().map(TestNode::p2p_addr).into_iter().collect();
        let options = options.clone().with_seeds(&seeds).with_outbound_target(1);
        nodes.push(TestNode::start(options).await?);
    }
    for (i, node) in nodes.iter().enumerate() {
        let neighbours = usize::from(i > 0) + usize::from(i + 1 < length);
        let network = node.node.network().clone();
        let connected = eventually(Duration::from_secs(30), || {
            let network = network.clone();
            async move { network.peers().await.map_or(0, |p| p.len()) >= neighbours }
        })
        .await;
        if !connected {
            return Err(StartError::Thread(std::io::Error::other(format!(
                "node {i} of the line did not get its {neighbours} neighbours"
            ))));
        }
    }
    Ok(nodes)
}

/// Why [`linked`] could not start its nodes.
#[derive(Debug, thiserror::Error)]
pub enum LinkedError {
    /// A node did not start.
    #[error("a node did not start: {0}")]
    Start(#[from] StartError),
    /// No loopback address pair is left for this node.
    #[error("no loopback addresses left for node {0}")]
    NoAddress(usize),
    /// No port could be found free on the node's real address.
    #[error("no free port for node {node}: {source}")]
    Port {
        /// The node.
        node: usize,
        /// Why.
        source: std::io::Error,
    },
    /// The link layer could not listen for a node.
    #[error("the link layer cannot listen for node {node} at {addr}: {source}")]
    Attach {
        /// The node.
        node: usize,
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// The first of the loopback address pairs [`linked`] gives its nodes: 127.0.1.101 and
/// 127.0.0.101 on, clear of 127.0.0.1, where every other test listens.
const FIRST_LINKED_ADDRESS: usize = 100;

/// Nodes whose every connection to one another crosses one [`LinkLayer`], as in `tern
/// testnet`: a test cuts and heals the network with the layer, and the nodes see what a
/// real partition does to their connections. Node `i` listens and dials from
/// 127.0.1.(101+i), and is known to the others only at 127.0.0.(101+i) on the same port,
/// where the layer listens for it; each dials the nodes before it. Links are perfect
/// until set otherwise.
///
/// The layer learns each node's addresses before the node starts: a connection the
/// node opened before would come from an address the layer does not know, and ride the
/// outsiders' link, which no partition cuts.
pub async fn linked(
    count: usize,
    options: NodeOptions,
) -> Result<(LinkLayer, Vec<TestNode>), LinkedError> {
    let links = LinkLayer::new(LinkProfile::default(), 1);
    let mut nodes: Vec<TestNode> = Vec::with_capacity(count);
    let mut advertised: Vec<SocketAddr> = Vec::with_capacity(count);
    for i in 0..count {
        let index = FIRST_LINKED_ADDRESS + i;
        let loopback = NodeAddrs::loopback(index, 0).ok_or(LinkedError::NoAddress(i))?;
        // A port free on the node's own real address, which nothing else on this machine
        // binds: free still when the node takes it a moment later.
        let port = std::net::TcpListener::bind(loopback.real)
            .and_then(|probe| probe.local_addr())
            .map_err(|source| LinkedError::Port { node: i, source })?
            .port();
        let addrs = NodeAddrs {
            real: SocketAddr::new(loopback.real.ip(), port),
            advertised: SocketAddr::new(loopback.advertised.ip(), port),
        };
        links
            .attach(i, addrs)
            .await
            .map_err(|source| LinkedError::Attach {
                node: i,
                addr: addrs.advertised,
                source,
            })?;
        let mut node_options = options.clone().with_seeds(&advertised);
        node_options.p2p = (addrs.real, Some(addrs.real.ip()));
        nodes.push(TestNode::start(node_options).await?);
        advertised.push(addrs.advertised);
    }
    Ok((links, nodes))
}
