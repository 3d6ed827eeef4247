//! [`NetworkHandle`]: what the rest of the node (service, RPC) may ask of the network.
//! Each request is a command to the peer manager with a oneshot reply.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tern_chain::types::{BlockHash, Height};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

use super::bans::{Ban, BanTarget};
use super::identity::NodeId;
use super::peer_stats::PeerStats;
use super::relay::RelayStats;
use super::sync::SyncStatus;
use super::Direction;

/// One connected peer, as the node sees it.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its proven identity.
    pub node_id: NodeId,
    /// The address of the connection.
    pub addr: SocketAddr,
    /// Where it accepts connections, if it does.
    pub listen_addr: Option<SocketAddr>,
    /// Who dialled.
    pub direction: Direction,
    /// Its tip height, as of its hello or its latest block announcement.
    pub best_height: Height,
    /// Its tip, likewise.
    pub best_hash: BlockHash,
    /// Its user agent.
    pub user_agent: String,
    /// How long it has been connected.
    pub connected_for: Duration,
    /// The last ping round trip, once measured.
    pub rtt: Option<Duration>,
    /// Live counters: bytes and messages each way.
    pub stats: Arc<PeerStats>,
}

/// The network as a whole.
#[derive(Debug, Clone)]
pub struct NetworkInfo {
    /// This node's id.
    pub node_id: NodeId,
    /// Where this node accepts connections.
    pub listen_addr: Option<SocketAddr>,
    /// Connected peers that dialled us.
    pub inbound: usize,
    /// Connected peers we dialled.
    pub outbound: usize,
    /// Addresses in the address book.
    pub known_addresses: usize,
    /// Bans in force.
    pub bans: usize,
    /// Connections refused during the handshake since start: banned peers, peers of
    /// another chain, genesis or protocol version, and dials that reached this node
    /// itself.
    pub refused: u64,
    /// Relay bookkeeping sizes, as the relay task last published them (at most half a
    /// second old).
    pub relay: RelayStats,
    /// Bytes of answers queued to peers, over all of them (at most
    /// [`ANSWER_BYTES_TOTAL`](super::send_queue::ANSWER_BYTES_TOTAL)).
    pub queued_answer_bytes: usize,
}

/// Why a network request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// The network layer has stopped.
    #[error("the network layer has stopped")]
    Stopped,
}

#[derive(Debug)]
pub(crate) enum Command {
    Info(oneshot::Sender<NetworkInfo>),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    AddPeer(SocketAddr, oneshot::Sender<()>),
    Ban {
        target: BanTarget,
        duration: Duration,
        reply: oneshot::Sender<usize>,
    },
    Unban(BanTarget, oneshot::Sender<bool>),
    Bans(oneshot::Sender<Vec<Ban>>),
}

/// A cheap, cloneable handle to the running network layer.
#[derive(Debug, Clone)]
pub struct NetworkHandle {
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) node_id: NodeId,
    pub(crate) listen_addr: Option<SocketAddr>,
    pub(crate) cancel: CancellationToken,
    pub(crate) sync_status: watch::Receiver<SyncStatus>,
    pub(crate) totals: Arc<PeerStats>,
}

impl NetworkHandle {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address this node accepts connections on (with the real port when port 0 was
    /// asked for).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(command(reply))
            .await
            .map_err(|_| NetworkError::Stopped)?;
        answer.await.map_err(|_| NetworkError::Stopped)
    }

    /// Where sync stands (updated twice a second).
    pub fn sync_status(&self) -> SyncStatus {
        *self.sync_status.borrow()
    }

    /// Bytes received and sent over every connection since start.
    pub fn bytes_total(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering;
        (
            self.totals.bytes_in.load(Ordering::Relaxed),
            self.totals.bytes_out.load(Ordering::Relaxed),
        )
    }

    /// What became of the compact blocks received over every connection since start.
    pub fn compact_blocks(&self) -> crate::peer_stats::CompactCounts {
        self.totals.compact.read()
    }

    /// Counts and sizes.
    pub async fn info(&self) -> Result<NetworkInfo, NetworkError> {
        self.ask(Command::Info).await
    }

    /// The connected peers.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, NetworkError> {
        self.ask(Command::Peers).await
    }

    /// Connects to `addr` now (whatever the outbound target) and keeps it as a seed.
    pub async fn add_peer(&self, addr: SocketAddr) -> Result<(), NetworkError> {
        self.ask(|reply| Command::AddPeer(addr, reply)).await
    }

    /// Bans a node or address for `duration` and disconnects it. Returns how many
    /// connections were closed.
    pub async fn ban(&self, target: BanTarget, duration: Duration) -> Result<usize, NetworkError> {
        self.ask(|reply| Command::Ban {
            target,
            duration,
            reply,
        })
        .await
    }

    /// Lifts a ban; false if there was none.
    pub async fn unban(&self, target: BanTarget) -> Result<bool, NetworkError> {
        self.ask(|reply| Command::Unban(target, reply)).await
    }

    /// The bans in force.
    pub async fn bans(&self) -> Result<Vec<Ban>, NetworkError> {
        self.ask(Command::Bans).await
    }

    /// Stops the network: every peer gets a goodbye, the address book and bans are
    /// saved. Wait on [`NetworkTasks::wait`](crate::NetworkTasks::wait) for it to finish.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}
