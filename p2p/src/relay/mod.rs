//! The relay task: transactions between peers, in the manner of reth's
//! `TransactionsManager`. It announces what the mempool admits, fetches what peers
//! announce and the pool lacks (asking one announcer at a time, see [`book`]), hands what
//! it fetched to the mempool through its admission worker (the same admission as RPC),
//! and reports peers whose transactions break a rule.
//!
//! Transactions, their announcements and not-found answers come straight from the
//! connection tasks. Blocks are not relay's: the sync task owns every block request and
//! announcement. Relay never waits on a peer: peers get messages through their links'
//! bounded queues.

pub mod book;

mod admission;

use std::time::{Duration, Instant};

use tern_chain::error::TxError;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::TxId;
use tern_mempool::{MempoolError, PoolHandle, SubmitError};
use tern_tasks::TaskExecutor;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use book::{
    Relay, RelayStats, KNOWN_PER_PEER, MAX_ALTERNATES, MAX_IN_FLIGHT, MAX_TX_IN_FLIGHT_PER_PEER,
    MAX_UNDELIVERED, MAX_WAITING_PER_PEER, RECENT_ITEMS, REQUESTED_PER_PEER, REQUEST_TIMEOUT,
};

use crate::asked::Answer;
use crate::close::Misbehaviour;
use crate::inbox::{Inbox, Next, RelayInput};
use crate::link::{PeerEvent, PeerLinks};
use crate::message::{InvItem, Message, MessageKind, MAX_INVENTORY_PER_MESSAGE};
use crate::ConnId;
use admission::{TxVerdict, TX_QUEUE};

/// Inputs from connection tasks waiting for the relay task.
pub(crate) const RELAY_QUEUE: usize = 1_024;
/// Verdicts from the relay task's workers waiting for it.
const VERDICT_QUEUE: usize = 1_024;
/// Admitted transaction ids waiting for the next announcement batch. Past it, ids are not
/// announced; peers still learn of them in blocks.
pub const MAX_PENDING_ANNOUNCEMENTS: usize = 65_536;
/// How often late requests are expired and waiting announcements requested.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_millis(500);

/// What the relay task needs from the node.
pub(crate) struct RelayParts {
    pub(crate) pool: PoolHandle,
    pub(crate) request_timeout: Duration,
    pub(crate) announce_interval: Duration,
    /// Where the bookkeeping's sizes are published.
    pub(crate) stats: watch::Sender<RelayStats>,
}

/// Starts the relay task as the critical task `relay`, with its admission worker. It ends
/// when `cancel` fires or the mempool stops.
pub(crate) fn spawn(
    parts: RelayParts,
    inbox: Inbox<RelayInput>,
    tasks: &TaskExecutor,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (verdicts_sender, verdicts) = mpsc::channel(VERDICT_QUEUE);
    let (txs, tx_inbox) = mpsc::channel(TX_QUEUE);
    tasks.spawn(
        "transaction admission",
        admission::admit_transactions(parts.pool.clone(), tx_inbox, verdicts_sender),
    );
    let task = RelayTask {
        peers: PeerLinks::default(),
        book: Relay::new(parts.request_timeout),
        pending_announcements: Vec::new(),
        txs,
        parts,
    };
    tasks.spawn_critical("relay", task.run(inbox, verdicts, cancel))
}

struct RelayTask {
    parts: RelayParts,
    peers: PeerLinks,
    book: Relay,
    pending_announcements: Vec<TxId>,
    txs: mpsc::Sender<(ConnId, SignedTransaction)>,
}

impl RelayTask {
    async fn run(
        mut self,
        mut inbox: Inbox<RelayInput>,
        mut verdicts: mpsc::Receiver<TxVerdict>,
        cancel: CancellationToken,
    ) {
        let mut admitted = self.parts.pool.subscribe_admitted();
        let mut announce = tokio::time::interval(self.parts.announce_interval);
        let mut housekeeping = tokio::time::interval(HOUSEKEEPING_INTERVAL);
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                Some(next) = inbox.recv() => match next {
                    Next::Peer(event) => self.on_peer_event(event),
                    Next::Input(input) => self.on_input(input),
                },
                Some(verdict) = verdicts.recv() => self.on_verdict(verdict),
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
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        let joined = matches!(event, PeerEvent::Joined(_));
        let conn = self.peers.apply(event);
        if joined {
            self.book.add_peer(conn);
        } else {
            let retries = self.book.remove_peer(conn, Instant::now());
            self.send_requests(retries);
        }
        self.publish_stats();
    }

    fn on_input(&mut self, input: RelayInput) {
        match input {
            RelayInput::Tx { conn, tx } => self.on_tx(conn, *tx),
            RelayInput::TxInventory { conn, ids } => {
                if !self.peers.contains(conn) {
                    return;
                }
                let pool = &self.parts.pool;
                let request =
                    self.book
                        .announced(conn, &ids, |id| pool.contains(id), Instant::now());
                self.peers.send_get_data(conn, &as_items(&request));
            }
            RelayInput::TxsNotFound { conn, ids } => self.on_not_found(conn, &ids),
        }
    }

    // ---- fetching ----------------------------------------------------------------------

    fn on_not_found(&mut self, conn: ConnId, ids: &[TxId]) {
        let retries = self.book.not_found(conn, ids, Instant::now());
        self.send_requests(retries);
        self.request_waiting(conn);
    }

    /// Requests what waits in `conn`'s announcement queue, as its quota allows.
    fn request_waiting(&mut self, conn: ConnId) {
        let pool = &self.parts.pool;
        let request = self
            .book
            .next_requests(conn, |id| pool.contains(id), Instant::now());
        self.peers.send_get_data(conn, &as_items(&request));
    }

    fn on_tx(&mut self, conn: ConnId, tx: SignedTransaction) {
        if !self.peers.contains(conn) {
            return;
        }
        let item = tx.id();
        if self.book.received(conn, item) == Answer::Unasked {
            return self
                .peers
                .report(conn, Misbehaviour::Unsolicited(MessageKind::Tx));
        }
        self.book.mark_recent(item);
        if self.txs.try_send((conn, tx)).is_err() {
            self.book.forget_recent(&item);
        }
        self.request_waiting(conn);
    }

    // ---- verdicts ----------------------------------------------------------------------

    fn on_verdict(&mut self, verdict: TxVerdict) {
        let TxVerdict { conn, id, result } = verdict;
        match result {
            Ok(()) => {}
            Err(SubmitError::Rejected(e)) if e.is_intrinsic() => {
                if matches!(e, MempoolError::Invalid(TxError::BadSignature(_))) {
                    // Anyone can send a bad signature under someone else's id.
                    let retry = self.book.refetch_elsewhere(id, conn, Instant::now());
                    self.send_requests(retry.into_iter().collect());
                }
                self.peers.report(conn, Misbehaviour::InvalidTransaction(e));
            }
            // A race (nonce used meanwhile, pool full): an honest peer can send it.
            Err(SubmitError::Rejected(_)) => {}
            Err(SubmitError::Unavailable(error)) => {
                tracing::debug!(%id, %error, "could not check a relayed transaction");
                self.book.forget_recent(&id);
            }
        }
    }

    // ---- announcements -----------------------------------------------------------------

    /// Transactions go out in one batch per peer per tick.
    fn flush_announcements(&mut self) {
        if self.pending_announcements.is_empty() {
            return;
        }
        let ids = std::mem::take(&mut self.pending_announcements);
        for link in self.peers.iter() {
            let fresh = as_items(&self.book.to_announce(link.conn, &ids));
            for chunk in fresh.chunks(MAX_INVENTORY_PER_MESSAGE) {
                if !link.send(&Message::Inventory(chunk.to_vec())) {
                    break;
                }
            }
        }
    }

    // ---- housekeeping ------------------------------------------------------------------

    fn housekeeping(&mut self) {
        let retries = self.book.expire(Instant::now());
        self.send_requests(retries);
        for conn in self.book.undelivering_peers() {
            self.peers
                .disconnect(conn, "announces what it never delivers");
        }
        for conn in self.book.peers_waiting() {
            self.request_waiting(conn);
        }
        self.publish_stats();
    }

    /// Requests that may go to several peers.
    fn send_requests(&self, requests: Vec<(ConnId, TxId)>) {
        let requests = requests
            .into_iter()
            .map(|(conn, id)| (conn, InvItem::Tx(id)))
            .collect();
        self.peers.send_requests(requests);
    }

    fn publish_stats(&self) {
        self.parts.stats.send_replace(self.book.stats());
    }
}

/// Transaction ids as the wire names them.
fn as_items(ids: &[TxId]) -> Vec<InvItem> {
    ids.iter().copied().map(InvItem::Tx).collect()
}
