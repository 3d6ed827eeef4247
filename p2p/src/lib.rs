//! # tern-p2p
//!
//! The peer-to-peer layer: encrypted connections, discovery, relay, bans and sync.
//!
//! ## Map
//!
//! Three tasks, one job each, and the connection tasks beneath them:
//!
//! | module | owns |
//! |---|---|
//! | [`manager`] | the connection manager task: slots, dialling, admission, bans, the address book |
//! | [`relay`] | the relay task: transactions, announce once, ask once ([`relay::book`]) |
//! | [`sync`] | the sync task: every block request and announcement; headers first, bodies from many peers at once, new blocks once caught up, progress |
//! | [`peer`] | the task that owns one connection: opening it, reading, writing |
//! | [`asked`] | what this node asked each peer for, past the requests' deadlines: the one record that tells an answer, however late, from unsolicited data |
//! | `inbox` | what each task receives, sorted by job, and the inbox it reads it through beside the peer events |
//! | `link` | a peer as the relay and sync tasks hold it: send, report, joined and left |
//! | `close` | why a connection ends, and [`peer::Misbehaviour`], the rules a peer can break |
//! | `peer_stats` | a connection's counters, shared with RPC and metrics |
//! | [`identity`] | the node's static key and [`NodeId`] |
//! | [`transport`] | Noise XX over TCP; length-prefixed frames, split and reassembled |
//! | [`message`] | the wire messages and every size and count limit |
//! | [`compact`] | compact blocks: short ids, the messages' bodies, a block rebuilt from the mempool |
//! | [`hello`] | opening a connection: handshake, hello, chain and self checks |
//! | [`send_queue`] | a peer's outgoing messages, bounded in bytes |
//! | [`addrbook`], [`bans`] | addresses and bans, persisted in the data dir |
//! | [`headers`] | block locators and header answers: what an answer attaches to, why one is refused |
//! | `conn` | [`ConnId`] and [`Direction`]: what names a connection |
//! | `config` | [`P2pConfig`] and its defaults |
//! | [`handle`] | [`NetworkHandle`], the request/response API the node and RPC use |
//! | `hostile` | with the `hostile` feature only: a peer that misbehaves on purpose, for tests and the testnet |
//!
//! ## Data flow
//!
//! A connection task opens its connection (TCP, Noise, hello), asks the connection
//! manager to admit it, then reads. Pings, data requests and header requests it answers
//! itself from the mempool and the store. Transactions and their announcements go to the
//! relay task; blocks, block announcements, block not-found answers and header answers
//! go to the sync task, the one owner of block requests; address gossip goes to the
//! manager. The manager tells relay and sync of every peer it admits, with a link to send
//! to it and report it by, and of every peer that leaves. Relay hands fetched
//! transactions to the mempool (the same admission as RPC) and sync hands blocks to the
//! chain actor (the same path as mined blocks), each through its own worker, and both
//! report peers whose data proves them dishonest: the report closes the connection with
//! the broken rule as its reason, and the manager bans the peer when the connection ends.
//! Sync announces new tips to every peer at once; relay announces newly admitted
//! transactions in batches every [`P2pConfig::tx_announce_interval`].
//!
//! Relay and sync never talk to each other. No task waits on a task below it in this
//! chain: connection tasks → relay or sync → (peers' send queues), and the manager waits
//! on nobody. So none of them can deadlock on another's full queue; every queue between
//! them is bounded and named.
//!
//! Modules depend one way too, with no cycle: the wire and the records (`conn`,
//! `identity`, `transport`, `message`, `compact`, `send_queue`, `asked`, `addrbook`, `bans`,
//! `peer_stats`, `headers`, `hello`) below `close`, `link` and `inbox`, below the tasks
//! (`peer`, `relay`, `sync`, with `config`), below `handle`, below `manager`.
//! `scripts/check-layering` fails if a module uses one above it. This file is the map
//! and [`start`].
//!
//! ## What it may not touch
//!
//! It writes the chain only through the chain actor's handle and admits transactions only
//! through the mempool's handle, as the miner and RPC do; it reads the store through
//! `tern-state`'s readers. It knows nothing of RPC shapes: the node turns its
//! [`NetworkHandle`] answers into them. Every task it starts is spawned through a
//! `tern-tasks` executor.
//!
//! ## Security notes
//!
//! Before the handshake only [`transport::HANDSHAKE_MAX_FRAME`]-byte frames are read.
//! After it, every message is decoded with the limits in [`message`]; every per-peer
//! structure (send queue, known sets, requests in flight) and every shared one (address
//! book, bans, recently seen items) has a named bound. A peer proves its identity with its
//! Noise static key; bans apply to that key and, off loopback, to its IP address.

pub mod addrbook;
pub mod asked;
pub mod bans;
pub mod compact;
pub mod handle;
pub mod headers;
pub mod hello;
#[cfg(feature = "hostile")]
pub mod hostile;
pub mod identity;
pub mod manager;
pub mod message;
pub mod peer;
pub mod relay;
pub mod send_queue;
pub mod sync;
pub mod transport;

mod close;
mod config;
mod conn;
mod inbox;
mod link;
mod peer_stats;

use std::net::SocketAddr;
use std::sync::Arc;

use tern_mempool::PoolHandle;
use tern_state::chain::ChainHandle;
use tern_tasks::fault::{FaultPlan, Part};
use tern_tasks::TaskExecutor;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{P2pConfig, DEFAULT_P2P_PORT};
pub use conn::{ConnId, Direction};
pub use handle::{NetworkHandle, NetworkInfo, PeerInfo};
pub use identity::{NodeId, NodeKey};
pub use peer_stats::{AskedCompact, CompactCounts, CompactOutcomes, MAX_ASKED_COMPACT};

use identity::NodeKeyError;
use inbox::Inbox;
use link::PeerEventSenders;
use peer::{AnswerBudget, PeerContext};
use peer_stats::PeerStats;
use relay::RelayStats;
use sync::{SyncConfig, SyncState, SyncStatus};

/// Room in each task's peer-event channel beyond two events per connection slot, for
/// peers added by hand past the slot limits.
const PEER_EVENT_SLACK: usize = 256;

/// Why the network layer could not start.
#[derive(Debug, thiserror::Error)]
pub enum P2pError {
    /// The listening socket could not be opened.
    #[error("cannot listen for peers on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The node key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] NodeKeyError),
}

/// The network's tasks: the connection manager, relay and sync.
#[derive(Debug)]
pub struct NetworkTasks(Vec<JoinHandle<()>>);

impl NetworkTasks {
    /// Waits until every one has ended: after [`NetworkHandle::shutdown`], once every
    /// connection task has said goodbye and the address book is saved.
    pub async fn wait(self) {
        for task in self.0 {
            let _ = task.await;
        }
    }
}

/// Starts the network layer: binds the listener, loads the key, address book and bans,
/// and spawns the connection manager (critical task `network`), the relay task
/// (`relay`) and the sync task (`sync`), with their workers and every connection as
/// tracked tasks of `tasks`.
pub async fn start(
    config: P2pConfig,
    chain: ChainHandle,
    pool: PoolHandle,
    tasks: &TaskExecutor,
    faults: &FaultPlan,
) -> Result<(NetworkHandle, NetworkTasks), P2pError> {
    let key = match &config.data_dir {
        Some(dir) => NodeKey::load_or_create(dir)?,
        None => NodeKey::generate()?,
    };
    let listener = match config.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| P2pError::Bind { addr, source })?,
        ),
        None => None,
    };
    let listen_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
    let config = Arc::new(config);
    let cancel = CancellationToken::new();
    let (to_manager, manager_inputs) = mpsc::channel(manager::INPUT_QUEUE);
    let (commands_sender, commands) = mpsc::channel(manager::COMMAND_QUEUE);
    let (to_relay, relay_inputs) = mpsc::channel(relay::RELAY_QUEUE);
    let (to_sync, sync_inputs) = mpsc::channel(sync::SYNC_QUEUE);
    let slots = config.max_inbound.saturating_add(config.outbound_target);
    let capacity = slots.saturating_mul(2).saturating_add(PEER_EVENT_SLACK);
    let mut peer_events = PeerEventSenders::default();
    let relay_peer_events = peer_events.subscribe(capacity);
    let sync_peer_events = peer_events.subscribe(capacity);
    let (relay_stats, relay_stats_receiver) = watch::channel(RelayStats::default());
    let (sync_status, sync_status_receiver) = watch::channel(SyncStatus::default());

    let relay = relay::spawn(
        relay::RelayParts {
            pool: pool.clone(),
            request_timeout: config.request_timeout,
            announce_interval: config.tx_announce_interval,
            stats: relay_stats,
        },
        Inbox::new(relay_peer_events, relay_inputs),
        tasks,
        cancel.clone(),
    );
    let locator = headers::follow_locator(&chain, tasks).await;
    let sync = sync::spawn(
        sync::SyncParts {
            chain: chain.clone(),
            state: SyncState::new(SyncConfig {
                max_peers: config.sync_peers,
                window: config.sync_window,
                request_timeout: config.request_timeout,
                expects_peers: !config.seeds.is_empty(),
                mode: config.sync_mode,
                pivot_depth: config.pivot_depth,
            }),
            locator,
            status: sync_status,
        },
        Inbox::new(sync_peer_events, sync_inputs),
        tasks,
        cancel.clone(),
    );

    // Nothing is answered before sync has said where it stands (its first status comes
    // once it has read whether a snapshot is being restored): a node joining by
    // snapshot refuses account reads from the first call on, and `/ready` never reads
    // a default status. A sync task that ends first ends the wait too.
    let mut first_status = sync_status_receiver.clone();
    let _ = first_status.changed().await;

    let totals = Arc::new(PeerStats::default());
    let node_id = key.id();
    let ctx = PeerContext {
        key,
        chain,
        pool,
        to_manager,
        to_relay,
        to_sync,
        config: Arc::clone(&config),
        listen_port: listen_addr.map_or(0, |a| a.port()),
        totals: Arc::clone(&totals),
        fault: faults.point(Part::Peer),
        answers: AnswerBudget::new(),
    };
    let manager = manager::spawn(
        manager::ManagerParts {
            ctx,
            config,
            node_id,
            listener,
            listen_addr,
            cancel: cancel.clone(),
            fault: faults.point(Part::Network),
            peer_events,
            relay_stats: relay_stats_receiver,
            inputs: manager_inputs,
            commands,
        },
        tasks,
    );
    tracing::info!(node_id = %node_id, listen = ?listen_addr, "p2p started");
    let handle = NetworkHandle {
        commands: commands_sender,
        node_id,
        listen_addr,
        cancel,
        sync_status: sync_status_receiver,
        totals,
    };
    Ok((handle, NetworkTasks(vec![manager, relay, sync])))
}
