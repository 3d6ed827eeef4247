//! The peer manager: one actor that owns every connection slot, the address book, the
//! bans, the relay bookkeeping and the sync state. Its code is cut by job, one file each,
//! as a step towards one task per job (issue 18):
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | connections: slots, accepting and dialling, admission, bans, housekeeping |
//! | `addresses.rs` | address gossip into and out of the address book |
//! | `relay_traffic.rs` | relay: transactions and blocks, announcements, the workers' verdicts |
//! | `sync_driver.rs` | sync: header answers, what sync asks for, its status |
//! | `commands.rs` | the [`NetworkHandle`]'s requests |
//!
//! It never waits on a peer: messages to peers go through their bounded send queues with
//! `try_send`, and a peer whose queue is full is dropped as too slow. Connection tasks
//! and the admission workers report to it over bounded channels. A connection's slot is
//! freed when its task ends, whatever way it ends: the manager holds every connection
//! task's handle and learns the close reason from the task's own result.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tern_chain::block::Block;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, Height, TxId};
use tern_state::chain::{ChainEvent, ChainHandle};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::addrbook::AddressBook;
use super::bans::{BanList, BanTarget};
use super::handle::{Command, NetworkHandle};
use super::hello::HelloError;
use super::identity::{NodeId, NodeKey, NodeKeyError};
use super::message::{Hello, InvItem, Message, MAX_GETDATA_PER_MESSAGE};
use super::peer::{
    self, AnswerBudget, CloseReason, Misbehaviour, Opening, PeerContext, PeerEvent, PeerStats,
    SendQueue,
};
use super::relay::Relay;
use super::sync::{SyncConfig, SyncState, SyncStatus};
use super::workers::{self, Outcome, BLOCK_QUEUE, TX_QUEUE};
use super::{ConnId, Direction, P2pConfig};
use tern_mempool::PoolHandle;
use tern_tasks::fault::{FaultPlan, FaultPoint, Part};
use tern_tasks::TaskExecutor;

mod addresses;
mod commands;
mod relay_traffic;
mod sync_driver;

/// Events from connection tasks waiting for the manager.
const EVENT_QUEUE: usize = 1_024;
/// Commands from handles waiting for the manager.
const COMMAND_QUEUE: usize = 64;
/// Verdicts from the admission workers waiting for the manager.
const OUTCOME_QUEUE: usize = 1_024;
/// Admitted transaction ids waiting for the next announcement batch. Past it, ids are not
/// announced; peers still learn of them in blocks.
pub const MAX_PENDING_ANNOUNCEMENTS: usize = 65_536;
/// How often a syncing node logs its progress.
const PROGRESS_LOG_INTERVAL: Duration = Duration::from_secs(5);
/// A peer's request for addresses is answered at most this often.
pub const ADDR_ANSWER_INTERVAL: Duration = Duration::from_secs(60);
/// How often timeouts and outbound slots are checked.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);
/// How often the address book is saved.
const SAVE_INTERVAL: Duration = Duration::from_secs(60);

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

/// Starts the network layer: binds the listener, loads the key, address book and bans,
/// and spawns the manager as the critical task `network`, with the admission workers and
/// every connection as tracked tasks of `tasks`. The manager's task ends after
/// [`NetworkHandle::shutdown`], once every connection task has reported its end.
pub async fn start(
    config: P2pConfig,
    chain: ChainHandle,
    pool: PoolHandle,
    tasks: &TaskExecutor,
    faults: &FaultPlan,
) -> Result<(NetworkHandle, JoinHandle<()>), P2pError> {
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
    let (events_sender, events) = mpsc::channel(EVENT_QUEUE);
    let (commands_sender, commands) = mpsc::channel(COMMAND_QUEUE);
    let (outcomes_sender, outcomes) = mpsc::channel(OUTCOME_QUEUE);
    let (txs, tx_inbox) = mpsc::channel(TX_QUEUE);
    let (blocks, block_inbox) = mpsc::channel(BLOCK_QUEUE);
    tasks.spawn(
        "transaction admission",
        workers::admit_transactions(pool.clone(), tx_inbox, outcomes_sender.clone()),
    );
    tasks.spawn(
        "block submission",
        workers::submit_blocks(chain.clone(), block_inbox, outcomes_sender),
    );

    let locator = super::headers::follow_locator(&chain, tasks).await;
    let cancel = CancellationToken::new();
    let totals = Arc::new(PeerStats::default());
    let (sync_status, sync_status_receiver) = watch::channel(SyncStatus::default());
    let node_id = key.id();
    let data_dir = config.data_dir.clone();
    let config = Arc::new(config);
    let manager = Manager {
        ctx: PeerContext {
            key,
            chain,
            pool,
            events: events_sender,
            config: Arc::clone(&config),
            listen_port: listen_addr.map_or(0, |a| a.port()),
            totals: Arc::clone(&totals),
            fault: faults.point(Part::Peer),
            answers: AnswerBudget::new(),
        },
        tasks: tasks.clone(),
        connection_tasks: FuturesUnordered::new(),
        fault: faults.point(Part::Network),
        node_id,
        listen_addr,
        cancel: cancel.clone(),
        next_conn: 0,
        connections: HashMap::new(),
        book: AddressBook::load(data_dir.as_deref(), tasks),
        bans: BanList::load(data_dir.as_deref(), tasks),
        relay: Relay::new(config.request_timeout),
        sync: SyncState::new(SyncConfig {
            max_peers: config.sync_peers,
            window: config.sync_window,
            request_timeout: config.request_timeout,
        }),
        sync_status,
        was_syncing: false,
        last_progress_log: Instant::now(),
        seeds: config.seeds.iter().copied().collect(),
        own_addrs: HashSet::new(),
        refused: 0,
        locator,
        pending_announcements: Vec::new(),
        txs,
        blocks,
        config,
    };
    tracing::info!(node_id = %node_id, listen = ?listen_addr, "p2p started");
    let task = tasks.spawn_critical("network", manager.run(listener, events, commands, outcomes));
    let handle = NetworkHandle {
        commands: commands_sender,
        node_id,
        listen_addr,
        cancel,
        sync_status: sync_status_receiver,
        totals,
    };
    Ok((handle, task))
}

/// One connection slot, from dial or accept to close.
#[derive(Debug)]
struct Connection {
    addr: SocketAddr,
    direction: Direction,
    cancel: CancellationToken,
    /// Set once the connection is established and admitted.
    peer: Option<Peer>,
}

/// What the manager knows of an admitted peer.
#[derive(Debug)]
struct Peer {
    node_id: NodeId,
    hello: Hello,
    best_height: Height,
    best_hash: BlockHash,
    queue: SendQueue,
    stats: Arc<PeerStats>,
    connected_at: Instant,
    listen_addr: Option<SocketAddr>,
    /// We sent `GetAddrs` and await its answer.
    asked_addrs: bool,
    addrs_answered_at: Option<Instant>,
}

/// A connection's task, yielding why the connection ended once the task has.
type ConnectionTask = Pin<Box<dyn Future<Output = (ConnId, CloseReason)> + Send>>;

struct Manager {
    ctx: PeerContext,
    tasks: TaskExecutor,
    /// Every connection's task: a connection's slot is freed when its task ends, however
    /// it ends, so no slot outlives its connection.
    connection_tasks: FuturesUnordered<ConnectionTask>,
    fault: FaultPoint,
    config: Arc<P2pConfig>,
    node_id: NodeId,
    listen_addr: Option<SocketAddr>,
    cancel: CancellationToken,
    next_conn: u64,
    connections: HashMap<ConnId, Connection>,
    book: AddressBook,
    bans: BanList,
    relay: Relay,
    sync: SyncState,
    sync_status: watch::Sender<SyncStatus>,
    was_syncing: bool,
    last_progress_log: Instant,
    seeds: HashSet<SocketAddr>,
    /// Addresses that turned out to reach this node.
    own_addrs: HashSet<SocketAddr>,
    /// Connections refused during the handshake (see `NetworkInfo::refused`).
    refused: u64,
    /// Our canonical chain's block locator, kept current by the `sync locator` task.
    locator: watch::Receiver<Arc<Vec<BlockHash>>>,
    pending_announcements: Vec<TxId>,
    txs: mpsc::Sender<(ConnId, SignedTransaction)>,
    blocks: mpsc::Sender<(ConnId, Block)>,
}

impl Manager {
    async fn run(
        mut self,
        listener: Option<TcpListener>,
        mut events: mpsc::Receiver<PeerEvent>,
        mut commands: mpsc::Receiver<Command>,
        mut outcomes: mpsc::Receiver<Outcome>,
    ) {
        let mut chain_events = self.ctx.chain.events();
        let mut admitted = self.ctx.pool.subscribe_admitted();
        let mut announce = tokio::time::interval(self.config.tx_announce_interval);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        let mut last_save = Instant::now();
        for seed in self.seeds.clone() {
            self.book.add_heard(seed);
        }
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => break,
                accepted = accept(listener.as_ref()) => {
                    if let Some((stream, addr)) = accepted {
                        self.on_accept(stream, addr);
                    }
                }
                Some(event) = events.recv() => self.on_event(event),
                Some((conn, reason)) = self.connection_tasks.next(), if !self.connection_tasks.is_empty() => {
                    self.on_closed(conn, reason);
                }
                Some(command) = commands.recv() => self.on_command(command),
                Some(outcome) = outcomes.recv() => self.on_outcome(outcome),
                event = chain_events.next() => match event {
                    Some(ChainEvent::Update(update)) => self.on_chain_update(&update),
                    // Missed updates: announcing the tip is enough for peers to catch up.
                    Some(ChainEvent::Lagged { .. }) => self.announce_blocks(&[self.ctx.chain.tip().hash]),
                    // The chain stopped: there is nothing left to relay.
                    None => break,
                },
                id = admitted.recv() => match id {
                    Ok(id) if self.pending_announcements.len() < MAX_PENDING_ANNOUNCEMENTS => {
                        self.pending_announcements.push(id);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {
                        tracing::debug!("too many admissions to announce; some are left to blocks");
                    }
                    Err(RecvError::Closed) => break,
                },
                _ = announce.tick() => self.flush_announcements(),
                _ = housekeeping.tick() => {
                    self.fault.hit();
                    self.housekeeping();
                    if last_save.elapsed() >= SAVE_INTERVAL {
                        self.book.save();
                        last_save = Instant::now();
                    }
                }
            }
        }
        for connection in self.connections.values() {
            connection.cancel.cancel();
        }
        // Every connection task says goodbye to its peer and ends; wait for all of them,
        // so the address book saved below knows how each one ended.
        while !self.connection_tasks.is_empty() {
            tokio::select! {
                Some((conn, reason)) = self.connection_tasks.next() => self.on_closed(conn, reason),
                Some(event) = events.recv() => {
                    if let PeerEvent::Ready { reply, .. } = event {
                        let _ = reply.send(Err("the node is stopping".into()));
                    }
                }
            }
        }
        self.book.save();
        tracing::info!("p2p stopped");
    }

    // ---- connections -------------------------------------------------------------------

    fn spawn_connection(&mut self, addr: SocketAddr, direction: Direction, opening: Opening) {
        let conn = ConnId(self.next_conn);
        self.next_conn = self.next_conn.wrapping_add(1);
        let cancel = self.cancel.child_token();
        self.connections.insert(
            conn,
            Connection {
                addr,
                direction,
                cancel: cancel.clone(),
                peer: None,
            },
        );
        let task = self
            .tasks
            .spawn_with_output("peer", peer::run(self.ctx.clone(), conn, opening, cancel));
        self.connection_tasks.push(Box::pin(async move {
            let reason = task.await.ok().flatten();
            (conn, reason.unwrap_or(CloseReason::TaskPanicked))
        }));
    }

    fn on_accept(&mut self, stream: TcpStream, addr: SocketAddr) {
        if self.bans.is_banned(&BanTarget::Ip(addr.ip())) {
            tracing::debug!(%addr, "refused a connection from a banned address");
            return;
        }
        let inbound = self.count(|c| c.direction == Direction::Inbound);
        if inbound >= self.config.max_inbound {
            tracing::debug!(%addr, inbound, "refused a connection: inbound slots full");
            return;
        }
        let same_ip = self.count(|c| c.direction == Direction::Inbound && c.addr.ip() == addr.ip());
        if same_ip >= self.config.max_inbound_per_ip {
            tracing::debug!(%addr, same_ip, "refused a connection: too many from one address");
            return;
        }
        self.spawn_connection(addr, Direction::Inbound, Opening::Accepted(stream));
    }

    fn dial(&mut self, addr: SocketAddr) {
        if self.bans.is_banned(&BanTarget::Ip(addr.ip())) {
            return;
        }
        tracing::debug!(%addr, "dialling");
        self.spawn_connection(addr, Direction::Outbound, Opening::Dial(addr));
    }

    fn count(&self, filter: impl Fn(&Connection) -> bool) -> usize {
        self.connections.values().filter(|c| filter(c)).count()
    }

    fn peer(&mut self, conn: ConnId) -> Option<&mut Peer> {
        self.connections.get_mut(&conn)?.peer.as_mut()
    }

    fn ready_peers(&self) -> Vec<ConnId> {
        self.connections
            .iter()
            .filter(|(_, c)| c.peer.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    fn on_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Ready {
                conn,
                node_id,
                hello,
                queue,
                stats,
                reply,
            } => {
                let verdict = self.admit(conn, node_id, *hello, queue, stats);
                let admitted = verdict.is_ok();
                let _ = reply.send(verdict);
                if admitted {
                    self.after_admission(conn);
                }
            }
            PeerEvent::Message { conn, message } => self.on_message(conn, message),
            PeerEvent::Inventory {
                conn,
                items,
                stored,
            } => self.on_inventory(conn, &items, &stored),
            PeerEvent::Headers {
                conn,
                headers,
                stored_parent,
            } => self.on_headers(conn, headers, stored_parent),
            PeerEvent::Block {
                conn,
                block,
                body_matches,
            } => {
                if self.peer(conn).is_some() {
                    self.on_block(conn, *block, body_matches);
                }
            }
        }
    }

    /// Decides whether to keep a newly established connection.
    fn admit(
        &mut self,
        conn: ConnId,
        node_id: NodeId,
        hello: Hello,
        queue: SendQueue,
        stats: Arc<PeerStats>,
    ) -> Result<(), String> {
        let (addr, direction) = match self.connections.get(&conn) {
            Some(c) => (c.addr, c.direction),
            None => return Err("closing".into()),
        };
        if self.bans.is_banned(&BanTarget::Node(node_id)) {
            return Err("banned".into());
        }
        let existing = self
            .connections
            .iter()
            .find(|(_, c)| c.peer.as_ref().is_some_and(|p| p.node_id == node_id))
            .map(|(id, c)| (*id, c.direction));
        if let Some((other, other_direction)) = existing {
            // Two nodes that dial each other at once end up with two connections. Both
            // keep the one dialled by the lower node id, so they agree without talking.
            let dialer = |d: Direction| match d {
                Direction::Outbound => self.node_id,
                Direction::Inbound => node_id,
            };
            let preferred = self.node_id.min(node_id);
            if dialer(direction) == preferred && dialer(other_direction) != preferred {
                self.kick(other, "replaced by a connection in the preferred direction");
            } else {
                return Err("already connected".into());
            }
        }
        let listen_addr = match direction {
            Direction::Outbound => Some(addr),
            Direction::Inbound => {
                (hello.listen_port != 0).then(|| SocketAddr::new(addr.ip(), hello.listen_port))
            }
        };
        match (direction, listen_addr) {
            (Direction::Outbound, _) => self.book.mark_success(addr),
            (Direction::Inbound, Some(listen)) => self.book.add_heard(listen),
            (Direction::Inbound, None) => {}
        }
        self.relay.add_peer(conn);
        tracing::info!(
            peer = ?node_id,
            %addr,
            ?direction,
            height = hello.best_height.value(),
            agent = %hello.user_agent,
            "peer connected"
        );
        let peer = Peer {
            node_id,
            best_height: hello.best_height,
            best_hash: hello.best_hash,
            hello,
            queue,
            stats,
            connected_at: Instant::now(),
            listen_addr,
            asked_addrs: false,
            addrs_answered_at: None,
        };
        self.sync
            .add_peer(conn, peer.hello.cumulative_work, peer.hello.best_height);
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.peer = Some(peer);
        }
        Ok(())
    }

    fn after_admission(&mut self, conn: ConnId) {
        let outbound = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.direction == Direction::Outbound);
        if outbound {
            if let Some(peer) = self.peer(conn) {
                peer.asked_addrs = true;
            }
            self.send(conn, &Message::GetAddrs);
        }
        // A peer with more work gets asked for headers.
        self.drive_sync();
    }

    fn on_closed(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        let addr = connection.addr;
        match connection.peer {
            Some(peer) => {
                if let Some(offence) = reason.misbehaviour() {
                    self.ban(peer.node_id, addr, &offence.to_string());
                }
                let retries = self.relay.remove_peer(conn, Instant::now());
                self.send_requests(retries);
                self.sync.remove_peer(conn);
                self.drive_sync();
                tracing::info!(peer = ?peer.node_id, %addr, %reason, "peer disconnected");
            }
            None => match reason {
                CloseReason::Hello(HelloError::SelfConnection) => {
                    self.refused = self.refused.saturating_add(1);
                    tracing::debug!(%addr, "that address is this node; forgetting it");
                    self.own_addrs.insert(addr);
                    self.book.remove(&addr);
                }
                CloseReason::Hello(
                    ref e @ (HelloError::WrongChain { .. }
                    | HelloError::WrongGenesis { .. }
                    | HelloError::UnsupportedVersion { .. }),
                ) => {
                    self.refused = self.refused.saturating_add(1);
                    tracing::warn!(%addr, reason = %e, "refused an incompatible peer");
                    if connection.direction == Direction::Outbound {
                        self.book.remove(&addr);
                    }
                }
                reason if connection.direction == Direction::Outbound => {
                    tracing::debug!(%addr, %reason, "could not connect");
                    self.book.mark_failure(addr);
                }
                reason => tracing::debug!(%addr, %reason, "inbound connection failed"),
            },
        }
    }

    /// Closes a connection; its task reports back with `Closed`.
    fn kick(&mut self, conn: ConnId, why: &str) {
        if let Some(connection) = self.connections.get(&conn) {
            tracing::debug!(addr = %connection.addr, why, "closing connection");
            connection.cancel.cancel();
        }
    }

    /// Bans a peer for breaking a rule and closes its connection.
    fn punish(&mut self, conn: ConnId, offence: Misbehaviour) {
        let Some((node_id, addr)) = self
            .connections
            .get(&conn)
            .and_then(|c| c.peer.as_ref().map(|p| (p.node_id, c.addr)))
        else {
            return;
        };
        self.ban(node_id, addr, &offence.to_string());
        self.kick(conn, "misbehaviour");
    }

    fn ban(&mut self, node_id: NodeId, addr: SocketAddr, offence: &str) {
        let duration = self.config.ban_duration;
        self.bans.ban(BanTarget::Node(node_id), duration, offence);
        // Every testnet node shares the loopback address: banning it would cut them all off.
        if !addr.ip().is_loopback() {
            self.bans.ban(BanTarget::Ip(addr.ip()), duration, offence);
        }
        tracing::warn!(peer = ?node_id, %addr, offence, ?duration, "banned peer");
    }

    /// Queues `message` for `conn`; a peer that cannot take it is dropped as too slow.
    fn send(&mut self, conn: ConnId, message: &Message) -> bool {
        let Some(peer) = self.peer(conn) else {
            return false;
        };
        if peer.queue.try_send(message).is_ok() {
            return true;
        }
        self.kick(conn, "send queue full: the peer is not reading");
        false
    }

    fn send_get_data(&mut self, conn: ConnId, items: Vec<InvItem>) {
        for chunk in items.chunks(MAX_GETDATA_PER_MESSAGE) {
            if !self.send(conn, &Message::GetData(chunk.to_vec())) {
                return;
            }
        }
    }

    fn send_requests(&mut self, requests: Vec<(ConnId, InvItem)>) {
        let mut by_peer: HashMap<ConnId, Vec<InvItem>> = HashMap::new();
        for (conn, item) in requests {
            by_peer.entry(conn).or_default().push(item);
        }
        for (conn, items) in by_peer {
            self.send_get_data(conn, items);
        }
    }

    // ---- housekeeping ------------------------------------------------------------------

    fn housekeeping(&mut self) {
        let retries = self.relay.expire(Instant::now());
        self.send_requests(retries);
        for conn in self.relay.undelivering_peers() {
            self.kick(conn, "announces what it never delivers");
        }
        for conn in self.relay.peers_waiting() {
            self.request_waiting(conn);
        }
        self.drive_sync();
        self.report_sync();
        for seed in self.seeds.clone() {
            self.book.add_heard(seed);
        }
        self.fill_outbound();
    }

    /// Dials addresses from the book until the outbound target is met.
    fn fill_outbound(&mut self) {
        let outbound = self.count(|c| c.direction == Direction::Outbound);
        let Some(wanted) = self.config.outbound_target.checked_sub(outbound) else {
            return;
        };
        if wanted == 0 {
            return;
        }
        let mut exclude = self.own_addrs.clone();
        for connection in self.connections.values() {
            exclude.insert(connection.addr);
            if let Some(listen) = connection.peer.as_ref().and_then(|p| p.listen_addr) {
                exclude.insert(listen);
            }
        }
        for addr in self.book.candidates(wanted, &exclude) {
            self.dial(addr);
        }
    }
}

/// The next inbound connection, or never if we do not listen.
async fn accept(listener: Option<&TcpListener>) -> Option<(TcpStream, SocketAddr)> {
    let Some(listener) = listener else {
        return std::future::pending().await;
    };
    match listener.accept().await {
        Ok(accepted) => Some(accepted),
        Err(error) => {
            // Out of file descriptors, typically: wait instead of spinning.
            tracing::warn!(%error, "cannot accept connections");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}
