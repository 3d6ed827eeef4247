//! One connection: the task that owns it from dial (or accept) to close.
//!
//! The task opens the connection ([`super::hello::establish`]), asks the connection
//! manager to admit it, then reads messages until the connection ends (`session.rs`). It
//! answers what needs no shared state itself (pings, requests for data and headers,
//! served straight from the mempool and the store, read on the blocking pool) and hands
//! the rest to the task whose job it is: transactions to relay, blocks and headers to
//! sync (with what the store says of announced blocks and of a header answer's parent),
//! address gossip to the manager. The writing half runs in the same task, beside the
//! reading half: it drains the peer's `SendQueue`, which is bounded in bytes, so a peer
//! that does not read cannot make us buffer more than
//! [`SEND_QUEUE_BYTES`](super::send_queue::SEND_QUEUE_BYTES). The task returns why the
//! connection ended (`close.rs`); the manager frees the slot when the task is gone.
mod budget;
mod compact;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tern_chain::encoding;
use tern_chain::types::Height;
use tern_state::chain::ChainHandle;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

pub use crate::close::{CloseReason, Misbehaviour, Refusal, RefusalReason};
pub use crate::peer_stats::PeerStats;
pub use compact::{COMPACT_BLOCKS_PER_SEC, COMPACT_BLOCK_BURST, MAX_PARTIAL_BLOCKS};

use super::hello;
use super::identity::NodeKey;
use super::inbox::{ManagerInput, RelayInput, SyncInput};
use super::link::Closer;
use super::message::{Hello, CHUNK_REQUESTS_PER_SEC, CHUNK_REQUEST_BURST};
use super::send_queue::Outgoing;
pub(crate) use super::send_queue::{AnswerBudget, SendQueue};
use super::transport::{self, FrameReader, FrameWriter, Role};
use super::{ConnId, P2pConfig};
use crate::close::goodbye;
use budget::Budget;
use session::Session;
use tern_mempool::PoolHandle;
use tern_tasks::fault::FaultPoint;

/// How long a closing connection may spend writing what is still queued (a goodbye, say)
/// before it is dropped: a peer that does not read cannot hold up shutdown.
pub const GOODBYE_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);

/// Inventory items a peer may announce in a burst...
pub const ANNOUNCE_BURST: f64 = 8_192.0;
/// ...and per second after it.
pub const ANNOUNCE_RATE: f64 = 4_096.0;

/// What every connection task needs from the node.
#[derive(Debug, Clone)]
pub(crate) struct PeerContext {
    pub(crate) key: NodeKey,
    pub(crate) chain: ChainHandle,
    pub(crate) pool: PoolHandle,
    /// Where admission requests and address gossip go.
    pub(crate) to_manager: mpsc::Sender<ManagerInput>,
    /// Where transactions, their announcements and not-found answers go.
    pub(crate) to_relay: mpsc::Sender<RelayInput>,
    /// Where every block, block announcement, block not-found answer and header answer
    /// goes first: sync keeps what it asked for and passes the rest to relay.
    pub(crate) to_sync: mpsc::Sender<SyncInput>,
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
            lowest_body: lowest_body(self.chain.floor()),
            listen_port: self.listen_port,
            user_agent: self.config.user_agent.clone(),
        }
    }
}

/// The lowest block body a store with `floor` holds: genesis's, or the one after the
/// snapshot's pivot (whose body it never had).
pub(crate) fn lowest_body(floor: Height) -> Height {
    if floor == Height::GENESIS {
        Height::GENESIS
    } else {
        Height(floor.value().saturating_add(1))
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
    closer: Closer,
) -> CloseReason {
    let opened = tokio::select! {
        opened = open(&ctx, conn, opening) => opened,
        () = closer.closed() => Err(closer.reason()),
    };
    match opened {
        Ok(admitted) => serve(&ctx, conn, admitted, &closer).await,
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
            let connect = transport::dial(addr, ctx.config.dial_from);
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
    let ours = ctx.hello();
    let hello::Established {
        node_id,
        hello,
        reader,
        mut writer,
    } = hello::establish(stream, &ctx.key, role, &ours, ctx.config.handshake_timeout).await?;
    let stats = Arc::new(PeerStats::default());
    let (queue, outgoing) = SendQueue::new(ctx.answers.clone());
    let (reply, verdict) = oneshot::channel();
    let ready = ManagerInput::Ready {
        conn,
        node_id,
        hello: Box::new(hello),
        told_work: ours.cumulative_work,
        queue: queue.clone(),
        stats: Arc::clone(&stats),
        reply,
    };
    if ctx.to_manager.send(ready).await.is_err() {
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
        Ok(Err(refusal)) => {
            let reason = CloseReason::Refused(refusal);
            let goodbye = encoding::encode(&goodbye(&reason, ctx.config.ban_duration));
            let _ =
                tokio::time::timeout(Duration::from_secs(1), writer.write_message(&goodbye)).await;
            Err(reason)
        }
        Err(_) => Err(CloseReason::Closed),
    }
}

/// Reads and answers until the connection ends.
async fn serve(
    ctx: &PeerContext,
    conn: ConnId,
    admitted: Admitted,
    closer: &Closer,
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
        announcements: Budget::new(ANNOUNCE_RATE, ANNOUNCE_BURST),
        chunk_requests: Budget::new(CHUNK_REQUESTS_PER_SEC, CHUNK_REQUEST_BURST),
        compact_blocks: Budget::new(COMPACT_BLOCKS_PER_SEC, COMPACT_BLOCK_BURST),
        ping: None,
        next_ping: 0,
        partials: compact::Partials::default(),
    };
    let (reason, writer_done) = tokio::select! {
        reason = session.read_loop(reader) => (reason, false),
        written = &mut writing => (written, true),
        () = closer.closed() => {
            // The node is stopping or dropping this peer: say goodbye if there is room.
            let reason = closer.reason();
            let _ = session
                .queue
                .try_send(&goodbye(&reason, ctx.config.ban_duration));
            (reason, false)
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
