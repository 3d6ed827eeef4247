//! One connection: the task that owns it from dial (or accept) to close.
//!
//! The task opens the connection ([`super::hello::establish`]), asks the peer manager to
//! admit it, then reads messages until the connection ends. It answers what needs no
//! shared state itself (pings, requests for data and headers, served straight from the
//! mempool and the store, read on the blocking pool) and forwards the rest to the
//! manager, with what the store says of announced blocks and of a header answer's parent.
//! The writing half runs in the same task, beside the reading half: it drains the peer's
//! `SendQueue`, which is bounded in bytes, so a peer that does not read cannot make us
//! buffer more than [`SEND_QUEUE_BYTES`](super::send_queue::SEND_QUEUE_BYTES). The task
//! returns why the connection ended; the manager frees the slot when the task is gone.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::encoding::{self, DecodeError};
use tern_chain::types::BlockHash;
use tern_state::chain::{ChainHandle, Rejection};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::headers;
use super::hello::{self, HelloError};
use super::identity::{NodeId, NodeKey};
use super::message::{Hello, InvItem, Message, MessageKind, MAX_HEADERS_PER_MESSAGE};
use super::send_queue::Outgoing;
pub(crate) use super::send_queue::{AnswerBudget, SendQueue};
use super::sync::HeaderChainError;
use super::sync::StoredParent;
use super::transport::{FrameReader, FrameWriter, Role, TransportError, MAX_MESSAGE_LEN};
use super::{ConnId, P2pConfig};
use tern_mempool::{MempoolError, PoolHandle};
use tern_tasks::fault::FaultPoint;

/// How long a closing connection may spend writing what is still queued (a goodbye, say)
/// before it is dropped: a peer that does not read cannot hold up shutdown.
pub const GOODBYE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Inventory items a peer may announce in a burst...
pub const ANNOUNCE_BURST: f64 = 8_192.0;
/// ...and per second after it.
pub const ANNOUNCE_RATE: f64 = 4_096.0;

/// Counters of one connection, shared with the manager and RPC.
#[derive(Debug, Default)]
pub struct PeerStats {
    /// Bytes read off the socket.
    pub bytes_in: AtomicU64,
    /// Bytes written to the socket.
    pub bytes_out: AtomicU64,
    /// Messages received, by [`MessageKind`].
    pub received: [AtomicU64; MessageKind::COUNT],
    /// Messages sent, by [`MessageKind`].
    pub sent: [AtomicU64; MessageKind::COUNT],
    /// The last ping round trip in microseconds; 0 before the first pong.
    pub rtt_micros: AtomicU64,
}

impl PeerStats {
    /// Messages of `kind` received.
    pub fn received(&self, kind: MessageKind) -> u64 {
        self.received
            .get(kind.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Messages of `kind` sent.
    pub fn sent(&self, kind: MessageKind) -> u64 {
        self.sent
            .get(kind.index())
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn count(counters: &[AtomicU64; MessageKind::COUNT], kind: MessageKind) {
        if let Some(counter) = counters.get(kind.index()) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A rule a peer broke, named with the rule's own error. Each one ends the connection
/// and bans the peer; the ban list keeps its text.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Misbehaviour {
    /// A message that does not decode, or breaks a size or count limit.
    #[error("malformed message: {0}")]
    Malformed(DecodeError),
    /// A message declared longer than the transport allows.
    #[error("oversized message: a message of {len} bytes is above the limit of {MAX_MESSAGE_LEN}")]
    MessageTooLarge {
        /// The declared length.
        len: usize,
    },
    /// A message whose frames carried more bytes than it declared.
    #[error("oversized message: its frames overrun its declared length")]
    FrameOverrun,
    /// A second hello.
    #[error("a second hello")]
    RepeatedHello,
    /// More announcements than [`ANNOUNCE_BURST`] and [`ANNOUNCE_RATE`] allow.
    #[error("announcement flood")]
    AnnouncementFlood,
    /// Data, addresses or headers we never asked this peer for.
    #[error("unsolicited {0:?}")]
    Unsolicited(MessageKind),
    /// A transaction invalid whatever the chain state (the mempool's intrinsic rules).
    #[error("invalid transaction: {0}")]
    InvalidTransaction(MempoolError),
    /// A block the chain refused for breaking a consensus rule.
    #[error("invalid block: {0}")]
    InvalidBlock(Rejection),
    /// A block whose transactions do not match its header's Merkle root.
    #[error("invalid block: block {0}: the transactions do not match the header's Merkle root")]
    BodyMismatch(BlockHash),
    /// Headers that are not a chain, or break a header rule.
    #[error("headers do not connect: {0}")]
    BadHeaders(HeaderChainError),
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum CloseReason {
    /// The TCP connection could not be made.
    #[error("dial failed: {0}")]
    DialFailed(std::io::Error),
    /// The handshake or hello failed or was refused.
    #[error(transparent)]
    Hello(#[from] HelloError),
    /// The manager did not admit the peer.
    #[error("refused: {0}")]
    Refused(String),
    /// The connection failed after it was established.
    #[error(transparent)]
    Transport(TransportError),
    /// The peer broke a rule.
    #[error(transparent)]
    Misbehaviour(#[from] Misbehaviour),
    /// No pong within the ping timeout.
    #[error("no pong within {0:?}")]
    PingTimeout(Duration),
    /// The peer could not keep up with what we send.
    #[error("the peer is not reading fast enough")]
    TooSlow,
    /// The peer said goodbye.
    #[error("peer said goodbye: {0}")]
    Goodbye(String),
    /// The manager closed it (ban, duplicate, replaced) or the node is stopping.
    #[error("closed by this node")]
    Closed,
    /// The connection's task panicked (a bug; the node fails with it).
    #[error("the connection task panicked")]
    TaskPanicked,
}

impl CloseReason {
    /// The misbehaviour to ban for, if any. The connection task turns a peer's oversized
    /// messages into [`Misbehaviour`]; every other transport failure blames nobody.
    pub fn misbehaviour(&self) -> Option<&Misbehaviour> {
        match self {
            CloseReason::Misbehaviour(m) => Some(m),
            _ => None,
        }
    }
}

/// What connection tasks tell the manager.
#[derive(Debug)]
pub(crate) enum PeerEvent {
    /// The connection is established; the manager answers whether to keep it.
    Ready {
        conn: ConnId,
        node_id: NodeId,
        hello: Box<Hello>,
        queue: SendQueue,
        stats: Arc<PeerStats>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    /// A message for the manager to handle.
    Message { conn: ConnId, message: Message },
    /// Announced items, with the announced blocks the store already holds (looked up
    /// here, on the blocking pool, so the manager never reads the store for them).
    Inventory {
        conn: ConnId,
        items: Vec<InvItem>,
        stored: HashSet<BlockHash>,
    },
    /// A header answer, with the stored block its first header's parent is, if it is one
    /// (read here, on the blocking pool, so sync never reads the store).
    Headers {
        conn: ConnId,
        headers: Vec<Header>,
        stored_parent: Option<StoredParent>,
    },
    /// A block, with whether its transactions match its header's Merkle root.
    Block {
        conn: ConnId,
        block: Box<Block>,
        body_matches: bool,
    },
}

/// What every connection task needs from the node.
#[derive(Debug, Clone)]
pub(crate) struct PeerContext {
    pub(crate) key: NodeKey,
    pub(crate) chain: ChainHandle,
    pub(crate) pool: PoolHandle,
    pub(crate) events: mpsc::Sender<PeerEvent>,
    pub(crate) config: Arc<P2pConfig>,
    pub(crate) listen_port: u16,
    /// Bytes in and out over every connection since start (for metrics).
    pub(crate) totals: Arc<PeerStats>,
    /// Passed once per message read (fault injection in tests).
    pub(crate) fault: FaultPoint,
    /// Room for answers queued to every peer together.
    pub(crate) answers: AnswerBudget,
}

impl PeerContext {
    /// Our hello, with the current tip.
    pub(crate) fn hello(&self) -> Hello {
        let tip = self.chain.tip();
        Hello {
            version: super::message::PROTOCOL_VERSION,
            chain_id: self.chain.reader().spec().consensus.chain_id,
            genesis: self.chain.reader().spec().genesis_hash(),
            best_height: tip.height(),
            best_hash: tip.hash,
            cumulative_work: tip.cumulative_work,
            listen_port: self.listen_port,
            user_agent: self.config.user_agent.clone(),
        }
    }
}

/// How a connection starts.
#[derive(Debug)]
pub(crate) enum Opening {
    /// We dial this address.
    Dial(SocketAddr),
    /// They dialled us.
    Accepted(TcpStream),
}

/// Runs one connection to its end and returns why it ended. The manager learns of the
/// end from the task itself ending, however it ends (a panic included), so a slot is
/// freed exactly when its connection task is gone.
pub(crate) async fn run(
    ctx: PeerContext,
    conn: ConnId,
    opening: Opening,
    cancel: CancellationToken,
) -> CloseReason {
    let opened = tokio::select! {
        opened = open(&ctx, conn, opening) => opened,
        () = cancel.cancelled() => Err(CloseReason::Closed),
    };
    match opened {
        Ok(admitted) => serve(&ctx, conn, admitted, &cancel).await,
        Err(reason) => reason,
    }
}

/// A connection the manager admitted.
struct Admitted {
    reader: FrameReader,
    writer: FrameWriter,
    queue: SendQueue,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    stats: Arc<PeerStats>,
}

/// Dials (or takes the accepted stream), establishes the connection and asks the manager
/// to admit it.
async fn open(ctx: &PeerContext, conn: ConnId, opening: Opening) -> Result<Admitted, CloseReason> {
    let (stream, role) = match opening {
        Opening::Dial(addr) => {
            let connect = TcpStream::connect(addr);
            match tokio::time::timeout(ctx.config.handshake_timeout, connect).await {
                Ok(Ok(stream)) => (stream, Role::Initiator),
                Ok(Err(e)) => return Err(CloseReason::DialFailed(e)),
                Err(_) => {
                    return Err(CloseReason::DialFailed(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    )))
                }
            }
        }
        Opening::Accepted(stream) => (stream, Role::Responder),
    };
    let hello::Established {
        node_id,
        hello,
        reader,
        mut writer,
    } = hello::establish(
        stream,
        &ctx.key,
        role,
        &ctx.hello(),
        ctx.config.handshake_timeout,
    )
    .await?;
    let stats = Arc::new(PeerStats::default());
    let (queue, outgoing) = SendQueue::new(ctx.answers.clone());
    let (reply, verdict) = oneshot::channel();
    let ready = PeerEvent::Ready {
        conn,
        node_id,
        hello: Box::new(hello),
        queue: queue.clone(),
        stats: Arc::clone(&stats),
        reply,
    };
    if ctx.events.send(ready).await.is_err() {
        return Err(CloseReason::Closed);
    }
    match verdict.await {
        Ok(Ok(())) => Ok(Admitted {
            reader,
            writer,
            queue,
            outgoing,
            stats,
        }),
        Ok(Err(reason)) => {
            let goodbye = encoding::encode(&Message::Goodbye(reason.clone()));
            let _ =
                tokio::time::timeout(Duration::from_secs(1), writer.write_message(&goodbye)).await;
            Err(CloseReason::Refused(reason))
        }
        Err(_) => Err(CloseReason::Closed),
    }
}

/// Reads and answers until the connection ends.
async fn serve(
    ctx: &PeerContext,
    conn: ConnId,
    admitted: Admitted,
    cancel: &CancellationToken,
) -> CloseReason {
    let Admitted {
        reader,
        writer,
        queue,
        outgoing,
        stats,
    } = admitted;
    let stop = CancellationToken::new();
    // The writing half runs in this same task, as a future polled beside the reading
    // half: it needs no task of its own, and is polled to its end exactly once.
    let writing = write_loop(
        writer,
        outgoing,
        Arc::clone(&stats),
        Arc::clone(&ctx.totals),
        ctx.config.write_timeout,
        stop.clone(),
    );
    tokio::pin!(writing);
    let mut session = Session {
        ctx,
        conn,
        queue,
        stats,
        announce_budget: ANNOUNCE_BURST,
        budget_at: Instant::now(),
        ping: None,
        next_ping: 0,
    };
    let (reason, writer_done) = tokio::select! {
        reason = session.read_loop(reader) => (reason, false),
        written = &mut writing => (written, true),
        () = cancel.cancelled() => {
            // The node is stopping or dropping this peer: say goodbye if there is room.
            let _ = session.queue.try_send(&Message::Goodbye("closing".into()));
            (CloseReason::Closed, false)
        }
    };
    if !writer_done {
        // Let the writer flush what is queued, but never wait long on a peer that does
        // not read.
        stop.cancel();
        let _ = tokio::time::timeout(GOODBYE_FLUSH_TIMEOUT, &mut writing).await;
    }
    reason
}

/// Writes queued messages until the queue closes, a write fails, or `stop` fires; then
/// writes what is already queued (a goodbye, say) and closes the sending direction.
async fn write_loop(
    mut writer: FrameWriter,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    stats: Arc<PeerStats>,
    totals: Arc<PeerStats>,
    write_timeout: Duration,
    stop: CancellationToken,
) -> CloseReason {
    loop {
        let message = tokio::select! {
            biased;
            message = outgoing.recv() => match message {
                Some(message) => message,
                None => break,
            },
            () = stop.cancelled() => match outgoing.try_recv() {
                Ok(message) => message,
                Err(_) => break,
            },
        };
        let before = writer.wire_bytes();
        match tokio::time::timeout(write_timeout, writer.write_message(&message.bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return CloseReason::Transport(e),
            Err(_) => return CloseReason::TooSlow,
        }
        let written = writer.wire_bytes().saturating_sub(before);
        stats.bytes_out.fetch_add(written, Ordering::Relaxed);
        totals.bytes_out.fetch_add(written, Ordering::Relaxed);
        PeerStats::count(&stats.sent, message.kind);
    }
    writer.close().await;
    CloseReason::Closed
}

/// The reading side of an admitted connection.
struct Session<'a> {
    ctx: &'a PeerContext,
    conn: ConnId,
    queue: SendQueue,
    stats: Arc<PeerStats>,
    announce_budget: f64,
    budget_at: Instant,
    /// The nonce and send time of the ping awaiting its pong.
    ping: Option<(u64, Instant)>,
    next_ping: u64,
}

impl Session<'_> {
    async fn read_loop(&mut self, mut reader: FrameReader) -> CloseReason {
        let config = &self.ctx.config;
        let mut ticker = tokio::time::interval(config.ping_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let bytes = tokio::select! {
                read = reader.read_message() => match read {
                    Ok(bytes) => bytes,
                    Err(TransportError::MessageTooLarge { len }) => {
                        return Misbehaviour::MessageTooLarge { len }.into()
                    }
                    Err(TransportError::Overrun) => return Misbehaviour::FrameOverrun.into(),
                    Err(e) => return CloseReason::Transport(e),
                },
                _ = ticker.tick() => {
                    if let Err(reason) = self.ping() {
                        return reason;
                    }
                    continue;
                }
            };
            let total = reader.wire_bytes();
            let before = self.stats.bytes_in.swap(total, Ordering::Relaxed);
            self.ctx
                .totals
                .bytes_in
                .fetch_add(total.saturating_sub(before), Ordering::Relaxed);
            let message = match encoding::decode::<Message>(&bytes) {
                Ok(message) => message,
                Err(e) => return Misbehaviour::Malformed(e).into(),
            };
            PeerStats::count(&self.stats.received, message.kind());
            self.ctx.fault.hit();
            if let Err(reason) = self.handle(message).await {
                return reason;
            }
        }
    }

    /// Sends a ping, or gives up on a peer that did not answer the last one in time.
    fn ping(&mut self) -> Result<(), CloseReason> {
        let timeout = self.ctx.config.ping_timeout;
        if let Some((_, sent)) = self.ping {
            if sent.elapsed() >= timeout {
                return Err(CloseReason::PingTimeout(timeout));
            }
            return Ok(());
        }
        self.next_ping = self.next_ping.wrapping_add(1);
        self.ping = Some((self.next_ping, Instant::now()));
        self.queue
            .try_send(&Message::Ping(self.next_ping))
            .map_err(|_| CloseReason::TooSlow)
    }

    async fn handle(&mut self, message: Message) -> Result<(), CloseReason> {
        match message {
            Message::Ping(nonce) => self
                .queue
                .send(&Message::Pong(nonce))
                .await
                .map_err(|_| CloseReason::Closed),
            Message::Pong(nonce) => {
                if let Some((expected, sent)) = self.ping {
                    if nonce == expected {
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        self.stats
                            .rtt_micros
                            .store(micros.max(1), Ordering::Relaxed);
                        self.ping = None;
                    }
                }
                Ok(())
            }
            Message::Hello(_) => Err(Misbehaviour::RepeatedHello.into()),
            Message::Goodbye(reason) => Err(CloseReason::Goodbye(reason)),
            Message::GetData(items) => self.serve_data(items).await,
            Message::GetHeaders { locator, stop } => self.serve_headers(locator, stop).await,
            Message::Inventory(items) => {
                self.spend_announce_budget(items.len())?;
                self.forward_inventory(items).await
            }
            Message::Block(block) => self.forward_block(*block).await,
            Message::Headers(headers) => self.forward_headers(headers).await,
            other @ (Message::GetAddrs
            | Message::Addrs(_)
            | Message::NotFound(_)
            | Message::Tx(_)) => self.forward(other).await,
        }
    }

    /// Checks a block's body against its header's Merkle root on the blocking pool (up to
    /// tens of milliseconds for the largest blocks), so the manager never does it.
    async fn forward_block(&self, block: Block) -> Result<(), CloseReason> {
        let (block, body_matches) = tokio::task::spawn_blocking(move || {
            let matches = block.computed_merkle_root() == block.header.merkle_root;
            (block, matches)
        })
        .await
        .map_err(|_| CloseReason::Closed)?;
        self.ctx
            .events
            .send(PeerEvent::Block {
                conn: self.conn,
                block: Box::new(block),
                body_matches,
            })
            .await
            .map_err(|_| CloseReason::Closed)
    }

    async fn forward_headers(&self, headers: Vec<Header>) -> Result<(), CloseReason> {
        let stored_parent = match headers.first() {
            Some(first) => {
                let parent = first.parent;
                let read = self
                    .ctx
                    .chain
                    .reads()
                    .run(move |reader| StoredParent::read(reader, &parent))
                    .await;
                match read {
                    Ok(stored_parent) => stored_parent,
                    // Not as good as absent: the headers would then not attach, and the
                    // peer would be banned for this node's failure. Dropped unjudged,
                    // the answer times out and sync asks again.
                    Err(error) => {
                        tracing::error!(%error, "cannot read the parent of a peer's headers");
                        return Ok(());
                    }
                }
            }
            None => None,
        };
        self.ctx
            .events
            .send(PeerEvent::Headers {
                conn: self.conn,
                headers,
                stored_parent,
            })
            .await
            .map_err(|_| CloseReason::Closed)
    }

    async fn forward_inventory(&self, items: Vec<InvItem>) -> Result<(), CloseReason> {
        let blocks = InvItem::blocks(&items);
        let stored = if blocks.is_empty() {
            HashSet::new()
        } else {
            self.ctx
                .chain
                .reads()
                .run(move |reader| {
                    let mut stored = HashSet::new();
                    for hash in blocks {
                        if reader.index_entry(&hash)?.is_some() {
                            stored.insert(hash);
                        }
                    }
                    Ok(stored)
                })
                .await
                // A store that cannot answer makes every block look new: at worst we
                // fetch one we have, and the chain says it already knows it.
                .unwrap_or_default()
        };
        self.ctx
            .events
            .send(PeerEvent::Inventory {
                conn: self.conn,
                items,
                stored,
            })
            .await
            .map_err(|_| CloseReason::Closed)
    }

    async fn forward(&self, message: Message) -> Result<(), CloseReason> {
        self.ctx
            .events
            .send(PeerEvent::Message {
                conn: self.conn,
                message,
            })
            .await
            .map_err(|_| CloseReason::Closed)
    }

    fn spend_announce_budget(&mut self, items: usize) -> Result<(), CloseReason> {
        let now = Instant::now();
        let refill = now.duration_since(self.budget_at).as_secs_f64() * ANNOUNCE_RATE;
        self.budget_at = now;
        self.announce_budget = (self.announce_budget + refill).min(ANNOUNCE_BURST) - items as f64;
        if self.announce_budget < 0.0 {
            return Err(Misbehaviour::AnnouncementFlood.into());
        }
        Ok(())
    }

    /// Answers a data request from the mempool and the store.
    async fn serve_data(&self, items: Vec<InvItem>) -> Result<(), CloseReason> {
        let mut missing = Vec::new();
        for item in items {
            let found = match item {
                InvItem::Tx(id) => self.ctx.pool.get(&id).map(|tx| Message::Tx(Box::new(tx))),
                InvItem::Block(hash) => self
                    .ctx
                    .chain
                    .reads()
                    .run(move |reader| reader.block(&hash))
                    .await
                    .ok()
                    .flatten()
                    .map(|block| Message::Block(Box::new(block))),
            };
            match found {
                Some(message) => self
                    .queue
                    .send(&message)
                    .await
                    .map_err(|_| CloseReason::Closed)?,
                None => missing.push(item),
            }
        }
        if !missing.is_empty() {
            self.queue
                .send(&Message::NotFound(missing))
                .await
                .map_err(|_| CloseReason::Closed)?;
        }
        Ok(())
    }

    /// Answers a header request from the store.
    async fn serve_headers(
        &self,
        locator: Vec<tern_chain::types::BlockHash>,
        stop: Option<tern_chain::types::BlockHash>,
    ) -> Result<(), CloseReason> {
        let headers = self
            .ctx
            .chain
            .reads()
            .run(move |reader| {
                headers::headers_after(reader, &locator, stop, MAX_HEADERS_PER_MESSAGE)
            })
            .await
            .unwrap_or_default();
        self.queue
            .send(&Message::Headers(headers))
            .await
            .map_err(|_| CloseReason::Closed)
    }
}
