//! What each of the network's tasks receives, and from whom, and the [`Inbox`] a task
//! reads it through beside the manager's peer events. The types live apart from the
//! tasks so that the connection tasks, relay and sync can each name another's inbox
//! without depending on one another.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use tern_chain::block::{Block, Header};
use tern_chain::state_map::chunk::KeyPrefix;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, TxId, Work};
use tokio::sync::{mpsc, oneshot};

use crate::close::Refusal;
use crate::headers::StoredParent;
use crate::identity::NodeId;
use crate::link::PeerEvent;
use crate::message::{ChunkAnswer, Hello, InvItem};
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
    /// A block, with whether its transactions match its header's Merkle root, and
    /// whether it came as a compact block (rebuilt by the connection task, so its body
    /// matches): a compact block may be pushed unasked by a peer in high-bandwidth mode.
    Block {
        conn: ConnId,
        block: Box<Block>,
        body_matches: bool,
        compact: bool,
    },
    /// A compact block that short ids could not rebuild: sync asks for the whole block.
    CompactNotRebuilt { conn: ConnId, hash: BlockHash },
    /// The peer wants new blocks pushed as compact blocks (true) or announced (false).
    SendCompact { conn: ConnId, push: bool },
    /// Blocks a peer announced, with those the store holds.
    BlockInventory {
        conn: ConnId,
        hashes: Vec<BlockHash>,
        stored: HashSet<BlockHash>,
    },
    /// Blocks a peer says it does not have, whole or compact as they were asked for.
    BlocksNotFound { conn: ConnId, items: Vec<InvItem> },
    /// An answer to a state chunk request, with its size on the wire.
    StateChunk {
        conn: ConnId,
        pivot: BlockHash,
        prefix: KeyPrefix,
        answer: Box<ChunkAnswer>,
        bytes: usize,
    },
}

/// A task's two channels: peer events from the manager and inputs from the other tasks.
/// [`Inbox::recv`] hands out a peer's `Joined` before any input of that peer: the manager
/// sends `Joined` before the peer's task learns it was admitted, so when an input arrives
/// its peer's `Joined` is already waiting, and is handed out first.
#[derive(Debug)]
pub(crate) struct Inbox<T> {
    peer_events: mpsc::Receiver<PeerEvent>,
    inputs: mpsc::Receiver<T>,
    /// An input taken while peer events were still waiting.
    held: Option<T>,
}

/// What [`Inbox::recv`] hands out.
#[derive(Debug)]
pub(crate) enum Next<T> {
    Peer(PeerEvent),
    Input(T),
}

impl<T> Inbox<T> {
    pub(crate) fn new(peer_events: mpsc::Receiver<PeerEvent>, inputs: mpsc::Receiver<T>) -> Self {
        Inbox {
            peer_events,
            inputs,
            held: None,
        }
    }

    /// The next peer event or input; `None` once both channels are closed. Cancel-safe:
    /// nothing taken is lost if the caller drops the future.
    pub(crate) async fn recv(&mut self) -> Option<Next<T>> {
        if let Ok(event) = self.peer_events.try_recv() {
            return Some(Next::Peer(event));
        }
        if let Some(input) = self.held.take() {
            return Some(Next::Input(input));
        }
        tokio::select! {
            Some(event) = self.peer_events.recv() => Some(Next::Peer(event)),
            Some(input) = self.inputs.recv() => match self.peer_events.try_recv() {
                Ok(event) => {
                    self.held = Some(input);
                    Some(Next::Peer(event))
                }
                Err(_) => Some(Next::Input(input)),
            },
            else => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::{test_link, PeerEventSenders};

    #[tokio::test]
    async fn a_peer_joins_before_its_inputs_are_handed_out_even_when_both_wait() {
        let mut senders = PeerEventSenders::default();
        let peer_events = senders.subscribe(8);
        let (inputs_sender, inputs) = mpsc::channel(8);
        let mut inbox = Inbox::new(peer_events, inputs);
        inputs_sender.send("before").await.unwrap();
        assert!(matches!(inbox.recv().await, Some(Next::Input("before"))));
        // An input and a peer event both waiting: the peer event comes out first.
        inputs_sender.send("of peer 1").await.unwrap();
        let (first, _) = test_link(1);
        let _departure = senders.join(&first).unwrap();
        let mut seen = Vec::new();
        for _ in 0..2 {
            seen.push(match inbox.recv().await {
                Some(Next::Peer(PeerEvent::Joined(link))) => format!("joined {}", link.conn.0),
                Some(Next::Peer(PeerEvent::Left(conn))) => format!("left {}", conn.0),
                Some(Next::Input(input)) => input.to_owned(),
                None => "closed".to_owned(),
            });
        }
        assert_eq!(seen, ["joined 1", "of peer 1"]);
        drop((senders, inputs_sender, _departure));
        assert!(inbox.recv().await.is_none());
    }
}
