//! What each of the network's tasks receives, and from whom. The types live apart from
//! the tasks so that the connection tasks, relay and sync can each name another's inbox
//! without depending on one another.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use tern_chain::block::{Block, Header};
use tern_chain::state_map::chunk::KeyPrefix;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, TxId, Work};
use tokio::sync::oneshot;

use crate::close::Refusal;
use crate::header_chain::StoredParent;
use crate::identity::NodeId;
use crate::message::{ChunkAnswer, Hello};
use crate::peer_stats::PeerStats;
use crate::send_queue::SendQueue;
use crate::ConnId;

/// What connection tasks tell the manager.
#[derive(Debug)]
pub(crate) enum ManagerInput {
    /// The connection is established; the manager answers whether to keep it.
    Ready {
        conn: ConnId,
        node_id: NodeId,
        hello: Box<Hello>,
        /// The work our own hello claimed.
        told_work: Work,
        queue: SendQueue,
        stats: Arc<PeerStats>,
        reply: oneshot::Sender<Result<(), Refusal>>,
    },
    /// The peer asks for addresses.
    GetAddrs { conn: ConnId },
    /// The peer's addresses.
    Addrs {
        conn: ConnId,
        addrs: Vec<SocketAddr>,
    },
}

/// What reaches the relay task: transactions only.
#[derive(Debug)]
pub(crate) enum RelayInput {
    /// A transaction a peer sent.
    Tx {
        conn: ConnId,
        tx: Box<SignedTransaction>,
    },
    /// Transactions a peer announced.
    TxInventory { conn: ConnId, ids: Vec<TxId> },
    /// Transactions a peer says it does not have.
    TxsNotFound { conn: ConnId, ids: Vec<TxId> },
}

/// What reaches the sync task: everything about blocks and the state.
#[derive(Debug)]
pub(crate) enum SyncInput {
    /// A header answer, with the stored block its first header's parent is, if it is one
    /// (read by the connection task, so sync never reads the store).
    Headers {
        conn: ConnId,
        headers: Vec<Header>,
        stored_parent: Option<Box<StoredParent>>,
    },
    /// A block, with whether its transactions match its header's Merkle root.
    Block {
        conn: ConnId,
        block: Box<Block>,
        body_matches: bool,
    },
    /// Blocks a peer announced, with those the store holds.
    BlockInventory {
        conn: ConnId,
        hashes: Vec<BlockHash>,
        stored: HashSet<BlockHash>,
    },
    /// Blocks a peer says it does not have.
    BlocksNotFound {
        conn: ConnId,
        hashes: Vec<BlockHash>,
    },
    /// An answer to a state chunk request, with its size on the wire.
    StateChunk {
        conn: ConnId,
        pivot: BlockHash,
        prefix: KeyPrefix,
        answer: Box<ChunkAnswer>,
        bytes: usize,
    },
}
