//! The connection manager: one task that owns every connection slot, accepting and
//! dialling, the verdict on each new connection, bans and the address book. It tells the
//! relay and sync tasks of every peer it admits and of every peer that leaves (see
//! `link.rs`), and answers the [`NetworkHandle`](crate::NetworkHandle)'s requests.
//!
//! | file | job |
//! |---|---|
//! | `mod.rs` | slots: accepting and dialling, admission, closing, bans, housekeeping |
//! | `addresses.rs` | address gossip into and out of the address book |
//! | `commands.rs` | the [`NetworkHandle`](crate::NetworkHandle)'s requests |
//!
//! It never waits on a peer or on the tasks it informs: messages to peers go through
//! their bounded send queues with `try_send`, and peer events go out on room reserved
//! when the peer joined. A connection's slot is freed when its task ends, whatever way
//! it ends: the manager holds every connection task's handle and learns the close reason
//! from the task's own result, banning the peer if the reason is a rule it broke,
//! whether the connection task, relay or sync caught it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use tern_chain::types::Work;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::addrbook::AddressBook;
use super::asked::AskLog;
use super::bans::{BanList, BanTarget};
use super::close::{CloseReason, Misbehaviour, Refusal, RefusalReason};
use super::handle::Command;
use super::hello::HelloError;
use super::identity::NodeId;
use super::inbox::ManagerInput;
use super::link::{BestBlock, Closer, Departure, Hellos, PeerEventSenders, PeerLink};
use super::message::{Hello, Message};
use super::peer::{self, Opening, PeerContext, SendQueue};
use super::peer_stats::PeerStats;
use super::relay::RelayStats;
use super::{ConnId, Direction, P2pConfig};
use tern_tasks::fault::FaultPoint;
use tern_tasks::TaskExecutor;

mod addresses;
mod commands;

/// Admission requests and address gossip from connection tasks waiting for the manager.
pub(crate) const INPUT_QUEUE: usize = 1_024;
/// Commands from handles waiting for the manager.
pub(crate) const COMMAND_QUEUE: usize = 64;
/// A peer's request for addresses is answered at most this often.
pub const ADDR_ANSWER_INTERVAL: Duration = Duration::from_secs(60);
/// How often outbound slots are filled.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);
/// A goodbye this soon after admission is a refusal of the connection, not the end of
/// one that worked: the address backs off (see `AddressBook::mark_refused`).
const REFUSAL_WINDOW: Duration = Duration::from_secs(5);
/// How often the address book is saved.
const SAVE_INTERVAL: Duration = Duration::from_secs(60);

/// What the manager starts with.
pub(crate) struct ManagerParts {
    pub(crate) ctx: PeerContext,
    pub(crate) config: Arc<P2pConfig>,
    pub(crate) node_id: NodeId,
    pub(crate) listener: Option<TcpListener>,
    pub(crate) listen_addr: Option<SocketAddr>,
    pub(crate) cancel: CancellationToken,
    pub(crate) fault: FaultPoint,
    /// The relay and sync tasks, told of every peer that joins or leaves.
    pub(crate) peer_events: PeerEventSenders,
    pub(crate) relay_stats: watch::Receiver<RelayStats>,
    pub(crate) inputs: mpsc::Receiver<ManagerInput>,
    pub(crate) commands: mpsc::Receiver<Command>,
}

/// Starts the manager as the critical task `network`, loading the address book and bans.
/// It ends after `cancel` fires, once every connection task has reported its end.
pub(crate) fn spawn(parts: ManagerParts, tasks: &TaskExecutor) -> JoinHandle<()> {
    let data_dir = parts.config.data_dir.clone();
    let manager = Manager {
        ctx: parts.ctx,
        tasks: tasks.clone(),
        connection_tasks: FuturesUnordered::new(),
        fault: parts.fault,
        node_id: parts.node_id,
        listen_addr: parts.listen_addr,
        cancel: parts.cancel,
        next_conn: 0,
        connections: HashMap::new(),
        book: AddressBook::load(data_dir.as_deref(), tasks),
        bans: BanList::load(data_dir.as_deref(), tasks),
        peer_events: parts.peer_events,
        relay_stats: parts.relay_stats,
        seeds: parts.config.seeds.iter().copied().collect(),
        own_addrs: HashSet::new(),
        refused: 0,
        asked_addrs: AskLog::new(addresses::ASKED_ADDRS_PER_PEER),
        config: parts.config,
    };
    tasks.spawn_critical(
        "network",
        manager.run(parts.listener, parts.inputs, parts.commands),
    )
}

/// One connection slot, from dial or accept to close.
#[derive(Debug)]
struct Connection {
    addr: SocketAddr,
    direction: Direction,
    closer: Closer,
    /// Set once the connection is established and admitted.
    peer: Option<Peer>,
}

/// What the manager knows of an admitted peer.
#[derive(Debug)]
struct Peer {
    node_id: NodeId,
    hello: Hello,
    best: Arc<BestBlock>,
    queue: SendQueue,
    stats: Arc<PeerStats>,
    connected_at: Instant,
    listen_addr: Option<SocketAddr>,
    addrs_answered_at: Option<Instant>,
    /// Tells relay and sync the peer is gone, once its task has ended.
    departure: Departure,
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
    peer_events: PeerEventSenders,
    relay_stats: watch::Receiver<RelayStats>,
    seeds: HashSet<SocketAddr>,
    /// Addresses that turned out to reach this node.
    own_addrs: HashSet<SocketAddr>,
    /// Connections refused during the handshake (see `NetworkInfo::refused`).
    refused: u64,
    /// Our address requests to each peer, answered or not yet.
    asked_addrs: AskLog<addresses::AddrsAsk>,
}

impl Manager {
    async fn run(
        mut self,
        listener: Option<TcpListener>,
        mut inputs: mpsc::Receiver<ManagerInput>,
        mut commands: mpsc::Receiver<Command>,
    ) {
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
                Some(input) = inputs.recv() => self.on_input(input),
                Some((conn, reason)) = self.connection_tasks.next(), if !self.connection_tasks.is_empty() => {
                    self.on_closed(conn, reason);
                }
                Some(command) = commands.recv() => self.on_command(command),
                _ = housekeeping.tick() => {
                    self.fault.hit();
                    self.fill_outbound();
                    if last_save.elapsed() >= SAVE_INTERVAL {
                        self.book.save();
                        last_save = Instant::now();
                    }
                }
            }
        }
        for connection in self.connections.values() {
            connection.closer.close();
        }
        // Every connection task says goodbye to its peer and ends; wait for all of them,
        // so the address book saved below knows how each one ended.
        while !self.connection_tasks.is_empty() {
            tokio::select! {
                Some((conn, reason)) = self.connection_tasks.next() => self.on_closed(conn, reason),
                Some(input) = inputs.recv() => {
                    if let ManagerInput::Ready { reply, .. } = input {
                        let _ = reply.send(Err(Refusal::now(RefusalReason::Stopping)));
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
        let closer = Closer::new(self.cancel.child_token());
        self.connections.insert(
            conn,
            Connection {
                addr,
                direction,
                closer: closer.clone(),
                peer: None,
            },
        );
        let task = self
            .tasks
            .spawn_with_output("peer", peer::run(self.ctx.clone(), conn, opening, closer));
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

    fn on_input(&mut self, input: ManagerInput) {
        match input {
            ManagerInput::Ready {
                conn,
                node_id,
                hello,
                told_work,
                queue,
                stats,
                reply,
            } => {
                let verdict = self.admit(conn, node_id, (*hello, told_work), queue, stats);
                let admitted = verdict.is_ok();
                let _ = reply.send(verdict);
                if admitted {
                    self.after_admission(conn);
                }
            }
            ManagerInput::GetAddrs { conn } => self.answer_addrs(conn),
            ManagerInput::Addrs { conn, addrs } => self.on_addrs(conn, addrs),
        }
    }

    /// Decides whether to keep a newly established connection.
    fn admit(
        &mut self,
        conn: ConnId,
        node_id: NodeId,
        (hello, told_work): (Hello, Work),
        queue: SendQueue,
        stats: Arc<PeerStats>,
    ) -> Result<(), Refusal> {
        let (addr, direction, closer) = match self.connections.get(&conn) {
            Some(c) => (c.addr, c.direction, c.closer.clone()),
            None => return Err(Refusal::now(RefusalReason::Closing)),
        };
        if let Some(left) = self.bans.remaining(&BanTarget::Node(node_id)) {
            self.refused = self.refused.saturating_add(1);
            return Err(Refusal {
                reason: RefusalReason::Banned,
                retry_after: left,
            });
        }
        let existing = self
            .connections
            .iter()
            .find(|(_, c)| c.peer.as_ref().is_some_and(|p| p.node_id == node_id))
            .map(|(id, c)| (*id, c.direction));
        let replaces = match existing {
            // Two nodes that dial each other at once end up with two connections. Both
            // keep the one dialled by the lower node id, so they agree without talking.
            Some((other, other_direction)) => {
                let dialer = |d: Direction| match d {
                    Direction::Outbound => self.node_id,
                    Direction::Inbound => node_id,
                };
                let preferred = self.node_id.min(node_id);
                if dialer(direction) != preferred || dialer(other_direction) == preferred {
                    return Err(Refusal::now(RefusalReason::AlreadyConnected));
                }
                Some(other)
            }
            None => None,
        };
        let best = Arc::new(BestBlock::new(hello.best_height, hello.best_hash));
        let link = PeerLink::new(
            conn,
            queue.clone(),
            closer,
            Arc::clone(&best),
            Arc::clone(&stats),
            Hellos {
                claimed_work: hello.cumulative_work,
                claimed_height: hello.best_height,
                lowest_body: hello.lowest_body,
                told_work,
            },
        );
        let departure = self
            .peer_events
            .join(&link)
            .map_err(|_| Refusal::now(RefusalReason::Busy))?;
        if let Some(other) = replaces {
            self.kick(other, "replaced by a connection in the preferred direction");
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
            hello,
            best,
            queue,
            stats,
            connected_at: Instant::now(),
            listen_addr,
            addrs_answered_at: None,
            departure,
        };
        if let Some(connection) = self.connections.get_mut(&conn) {
            connection.peer = Some(peer);
        }
        Ok(())
    }

    /// Outbound peers are asked for addresses.
    fn after_admission(&mut self, conn: ConnId) {
        let outbound = self
            .connections
            .get(&conn)
            .is_some_and(|c| c.direction == Direction::Outbound);
        if outbound && self.send(conn, &Message::GetAddrs) {
            self.asked_addrs.ask(conn, addresses::AddrsAsk);
        }
    }

    fn on_closed(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(connection) = self.connections.remove(&conn) else {
            return;
        };
        let addr = connection.addr;
        self.asked_addrs.remove_peer(conn);
        match connection.peer {
            Some(peer) => {
                if let Some(offence) = reason.misbehaviour() {
                    self.ban(peer.node_id, addr, &offence.to_string());
                }
                if connection.direction == Direction::Outbound {
                    match &reason {
                        // It refused us as we were admitted, or asked us to stay away (it
                        // bans us): stay away as long as it asks, and longer each time in
                        // a row.
                        CloseReason::Goodbye { retry_after, .. }
                            if !retry_after.is_zero()
                                || peer.connected_at.elapsed() < REFUSAL_WINDOW =>
                        {
                            self.book.mark_refused(addr, *retry_after);
                        }
                        _ => self.book.mark_kept(addr),
                    }
                }
                peer.departure.send();
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

    /// Closes a connection; its task reports back when it has ended.
    fn kick(&mut self, conn: ConnId, why: &str) {
        if let Some(connection) = self.connections.get(&conn) {
            tracing::debug!(addr = %connection.addr, why, "closing connection");
            connection.closer.close();
        }
    }

    /// Closes a connection for breaking a rule; the ban follows when its task has ended.
    fn report(&mut self, conn: ConnId, offence: Misbehaviour) {
        if let Some(connection) = self.connections.get(&conn) {
            connection
                .closer
                .close_with(CloseReason::Misbehaviour(offence));
        }
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

    /// Queues `message` for `conn`; a peer that cannot take it is closed as too slow.
    fn send(&mut self, conn: ConnId, message: &Message) -> bool {
        let Some(connection) = self.connections.get(&conn) else {
            return false;
        };
        let Some(peer) = &connection.peer else {
            return false;
        };
        if peer.queue.try_send(message).is_ok() {
            return true;
        }
        connection.closer.close_with(CloseReason::TooSlow);
        false
    }

    // ---- housekeeping ------------------------------------------------------------------

    /// Dials addresses from the book until the outbound target is met.
    fn fill_outbound(&mut self) {
        for seed in self.seeds.clone() {
            self.book.add_heard(seed);
        }
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
