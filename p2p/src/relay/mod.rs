//! The relay task: transactions and new blocks between peers, in the manner of reth's
//! `TransactionsManager`. It announces what the node admits or connects, fetches what
//! peers announce and it lacks (asking one announcer at a time, see [`book`]), hands
//! what it fetched to the mempool and the chain through its own workers, and reports
//! peers whose data breaks a rule.
//!
//! Transactions, their announcements and not-found answers come straight from the
//! connection tasks. Block traffic comes through the sync task, which sees every block
//! first and passes on what it did not ask for (`RelayInput::Block` and the rest), so
//! one task owns each block request. A relayed block the chain cannot place
//! ([`Verdict::Orphaned`]) tells sync that its sender has a chain we lack.
//!
//! It never waits on a peer or on the sync task: peers get messages through their
//! links' bounded queues, and hints to sync are dropped when sync is behind (sync asks
//! on its own schedule anyway).

pub mod book;

mod admission;

use std::time::{Duration, Instant};

use tern_chain::block::Block;
use tern_chain::error::TxError;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{BlockHash, TxId};
use tern_mempool::{MempoolError, PoolHandle, SubmitError};
use tern_state::chain::{ChainEvent, ChainHandle, ChainUpdate, Rejection, Verdict};
use tern_tasks::TaskExecutor;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use book::{
    Relay, RelayStats, KNOWN_PER_PEER, MAX_ALTERNATES, MAX_BLOCKS_IN_FLIGHT_PER_PEER,
    MAX_IN_FLIGHT, MAX_TX_IN_FLIGHT_PER_PEER, MAX_UNDELIVERED, MAX_WAITING_PER_PEER, RECENT_ITEMS,
    REQUESTED_PER_PEER, REQUEST_TIMEOUT,
};

use crate::asked::Answer;
use crate::block_submission::{self, BlockVerdict, BLOCK_QUEUE};
use crate::close::Misbehaviour;
use crate::inbox::{RelayInput, SyncInput};
use crate::link::{Inbox, Next, PeerEvent, PeerLinks};
use crate::message::{InvItem, Message, MessageKind, MAX_INVENTORY_PER_MESSAGE};
use crate::ConnId;
use admission::{TxVerdict, TX_QUEUE};

/// Inputs from connection tasks and sync waiting for the relay task.
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
    pub(crate) chain: ChainHandle,
    pub(crate) pool: PoolHandle,
    /// Where orphan hints go.
    pub(crate) sync: mpsc::Sender<SyncInput>,
    pub(crate) request_timeout: Duration,
    pub(crate) announce_interval: Duration,
    /// Where the bookkeeping's sizes are published.
    pub(crate) stats: watch::Sender<RelayStats>,
}

/// Starts the relay task as the critical task `relay`, with its admission and block
/// submission workers. It ends when `cancel` fires or the chain stops.
pub(crate) fn spawn(
    parts: RelayParts,
    inbox: Inbox<RelayInput>,
    tasks: &TaskExecutor,
    cancel: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (tx_verdicts_sender, tx_verdicts) = mpsc::channel(VERDICT_QUEUE);
    let (block_verdicts_sender, block_verdicts) = mpsc::channel(VERDICT_QUEUE);
    let (txs, tx_inbox) = mpsc::channel(TX_QUEUE);
    let (blocks, block_inbox) = mpsc::channel(BLOCK_QUEUE);
    tasks.spawn(
        "transaction admission",
        admission::admit_transactions(parts.pool.clone(), tx_inbox, tx_verdicts_sender),
    );
    tasks.spawn(
        "relay block submission",
        block_submission::submit_blocks(parts.chain.clone(), block_inbox, block_verdicts_sender),
    );
    let task = RelayTask {
        peers: PeerLinks::default(),
        book: Relay::new(parts.request_timeout),
        pending_announcements: Vec::new(),
        txs,
        blocks,
        parts,
    };
    tasks.spawn_critical(
        "relay",
        task.run(inbox, tx_verdicts, block_verdicts, cancel),
    )
}

struct RelayTask {
    parts: RelayParts,
    peers: PeerLinks,
    book: Relay,
    pending_announcements: Vec<TxId>,
    txs: mpsc::Sender<(ConnId, SignedTransaction)>,
    blocks: mpsc::Sender<(ConnId, Block)>,
}

impl RelayTask {
    async fn run(
        mut self,
        mut inbox: Inbox<RelayInput>,
        mut tx_verdicts: mpsc::Receiver<TxVerdict>,
        mut block_verdicts: mpsc::Receiver<BlockVerdict>,
        cancel: CancellationToken,
    ) {
        let mut chain_events = self.parts.chain.events();
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
                Some(verdict) = tx_verdicts.recv() => self.on_tx_verdict(verdict),
                Some(verdict) = block_verdicts.recv() => self.on_block_verdict(verdict),
                event = chain_events.next() => match event {
                    Some(ChainEvent::Update(update)) => self.on_chain_update(&update),
                    // Missed updates: announcing the tip is enough for peers to catch up.
                    Some(ChainEvent::Lagged { .. }) => {
                        let tip = self.parts.chain.tip().hash;
                        self.announce_blocks(&[tip]);
                    }
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
                _ = housekeeping.tick() => self.housekeeping(),
            }
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        let joined = matches!(event, PeerEvent::Joined(_));
        // A peer behind our tip now, to which our hello claimed no more work than it had:
        // blocks connected while the two hellos crossed were announced before it joined,
        // and it would learn of them only at the next block. Our tip goes to it at once.
        // (One our hello told of more work syncs from us on its own.)
        let tip = self.parts.chain.tip();
        let behind = matches!(&event, PeerEvent::Joined(link)
            if link.claimed_work < tip.cumulative_work && link.told_work <= link.claimed_work);
        let conn = self.peers.apply(event);
        if joined {
            self.book.add_peer(conn);
            if behind {
                let item = InvItem::Block(tip.hash);
                if let Some(link) = self.peers.get(conn) {
                    if !self.book.to_announce(conn, &[item]).is_empty() {
                        link.send(&Message::Inventory(vec![item]));
                    }
                }
            }
        } else {
            let retries = self.book.remove_peer(conn, Instant::now());
            self.peers.send_requests(retries);
        }
        self.publish_stats();
    }

    fn on_input(&mut self, input: RelayInput) {
        match input {
            RelayInput::Tx { conn, tx } => self.on_tx(conn, *tx),
            RelayInput::TxInventory { conn, ids } => {
                let items: Vec<InvItem> = ids.into_iter().map(InvItem::Tx).collect();
                let pool = &self.parts.pool;
                let have = |item: &InvItem| matches!(item, InvItem::Tx(id) if pool.contains(id));
                request_announced(&mut self.book, &self.peers, conn, &items, have);
            }
            RelayInput::BlockInventory { conn, hashes, have } => {
                if !self.peers.contains(conn) {
                    return;
                }
                let items: Vec<InvItem> = hashes.into_iter().map(InvItem::Block).collect();
                let held =
                    |item: &InvItem| matches!(item, InvItem::Block(hash) if have.contains(hash));
                let (request, left_out) =
                    self.book
                        .announced_counting(conn, &items, held, Instant::now());
                self.peers.send_get_data(conn, &request);
                // More new blocks than relay fetches from one peer at once (a burst):
                // sync takes them headers first.
                if left_out > 0 {
                    let _ = self.parts.sync.try_send(SyncInput::HasMore { conn });
                }
            }
            RelayInput::TxsNotFound { conn, ids } => {
                let items: Vec<InvItem> = ids.into_iter().map(InvItem::Tx).collect();
                self.on_not_found(conn, &items);
            }
            RelayInput::BlocksNotFound { conn, hashes } => {
                let items: Vec<InvItem> = hashes.into_iter().map(InvItem::Block).collect();
                self.on_not_found(conn, &items);
            }
            RelayInput::Block {
                conn,
                block,
                body_matches,
            } => self.on_block(conn, *block, body_matches),
            RelayInput::BlockDelivered { conn, hash } => {
                // Not sync's answer, so relay's, if relay asked; a copy nobody asked for
                // was wanted, so it is no offence.
                let _ = self.book.received(conn, InvItem::Block(hash));
            }
            RelayInput::BlockHere { conn, hash } => {
                self.book.answered_elsewhere(conn, InvItem::Block(hash));
            }
        }
    }

    // ---- fetching ----------------------------------------------------------------------

    fn on_not_found(&mut self, conn: ConnId, items: &[InvItem]) {
        let retries = self.book.not_found(conn, items, Instant::now());
        self.peers.send_requests(retries);
        self.request_waiting(conn);
    }

    /// Requests what waits in `conn`'s announcement queue, as its quota allows.
    fn request_waiting(&mut self, conn: ConnId) {
        let pool = &self.parts.pool;
        let request = self.book.next_requests(
            conn,
            |item: &InvItem| matches!(item, InvItem::Tx(id) if pool.contains(id)),
            Instant::now(),
        );
        self.peers.send_get_data(conn, &request);
    }

    fn on_tx(&mut self, conn: ConnId, tx: SignedTransaction) {
        if !self.peers.contains(conn) {
            return;
        }
        let item = InvItem::Tx(tx.id());
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

    fn on_block(&mut self, conn: ConnId, block: Block, body_matches: bool) {
        let Some(link) = self.peers.get(conn) else {
            return;
        };
        let hash = block.hash();
        let item = InvItem::Block(hash);
        if !body_matches {
            // A body that does not match its header proves nothing about the header: the
            // block may be fine with its real transactions. Ask the next announcer, and
            // do not remember the hash as handled, or honest announcements of the genuine
            // block would be ignored.
            link.report(Misbehaviour::BodyMismatch(hash));
            let retries = self.book.not_found(conn, &[item], Instant::now());
            return self.peers.send_requests(retries);
        }
        if self.book.received(conn, item) == Answer::Unasked {
            return link.report(Misbehaviour::Unsolicited(MessageKind::Block));
        }
        link.raise_best(block.header.height, hash);
        self.book.mark_recent(item);
        if self.blocks.try_send((conn, block)).is_err() {
            tracing::debug!(%hash, "block queue full; the block will be fetched again");
            self.book.forget_recent(&item);
        }
    }

    // ---- verdicts ----------------------------------------------------------------------

    fn on_tx_verdict(&mut self, verdict: TxVerdict) {
        let TxVerdict { conn, id, result } = verdict;
        match result {
            Ok(()) => {}
            Err(SubmitError::Rejected(e)) if e.is_intrinsic() => {
                if matches!(e, MempoolError::Invalid(TxError::BadSignature(_))) {
                    // Anyone can send a bad signature under someone else's id.
                    let retry = self
                        .book
                        .refetch_elsewhere(InvItem::Tx(id), conn, Instant::now());
                    self.peers.send_requests(retry.into_iter().collect());
                }
                self.peers.report(conn, Misbehaviour::InvalidTransaction(e));
            }
            // A race (nonce used meanwhile, pool full): an honest peer can send it.
            Err(SubmitError::Rejected(_)) => {}
            Err(SubmitError::Unavailable(error)) => {
                tracing::debug!(%id, %error, "could not check a relayed transaction");
                self.book.forget_recent(&InvItem::Tx(id));
            }
        }
    }

    fn on_block_verdict(&mut self, verdict: BlockVerdict) {
        let BlockVerdict { conn, hash, result } = verdict;
        match result {
            Ok(verdict) => match verdict {
                Verdict::Accepted | Verdict::AlreadyKnown => {}
                // We lack its ancestors: sync asks the sender where its chain leaves ours.
                // Dropped if sync is behind; it asks peers with more work on its own.
                Verdict::Orphaned => {
                    let _ = self.parts.sync.try_send(SyncInput::HasMore { conn });
                }
                // It may become valid once our clock catches up, or once the snapshot
                // being restored is in: fetch it again then.
                Verdict::Rejected(Rejection::NotYetValid { .. } | Rejection::Restoring { .. }) => {
                    self.book.forget_recent(&InvItem::Block(hash));
                }
                // Checked before, in the connection task; should the chain still find a
                // mismatch, the header stays innocent all the same.
                Verdict::Rejected(rejection @ Rejection::BodyMismatch { .. }) => {
                    self.book.forget_recent(&InvItem::Block(hash));
                    self.peers
                        .report(conn, Misbehaviour::InvalidBlock(rejection));
                }
                Verdict::Rejected(rejection) => {
                    self.peers
                        .report(conn, Misbehaviour::InvalidBlock(rejection));
                }
            },
            Err(error) => {
                tracing::error!(%hash, %error, "the chain could not take a block");
                self.book.forget_recent(&InvItem::Block(hash));
            }
        }
    }

    // ---- announcements -----------------------------------------------------------------

    fn on_chain_update(&mut self, update: &ChainUpdate) {
        let hashes: Vec<BlockHash> = update.connected.iter().map(|b| b.hash()).collect();
        self.announce_blocks(&hashes);
    }

    /// Blocks go out at once, to every peer that does not know them.
    fn announce_blocks(&mut self, hashes: &[BlockHash]) {
        let items: Vec<InvItem> = hashes.iter().map(|h| InvItem::Block(*h)).collect();
        for item in &items {
            self.book.mark_recent(*item);
        }
        self.announce(&items);
    }

    /// Transactions go out in one batch per peer per tick.
    fn flush_announcements(&mut self) {
        if self.pending_announcements.is_empty() {
            return;
        }
        let items: Vec<InvItem> = self
            .pending_announcements
            .drain(..)
            .map(InvItem::Tx)
            .collect();
        self.announce(&items);
    }

    fn announce(&mut self, items: &[InvItem]) {
        for link in self.peers.iter() {
            let fresh = self.book.to_announce(link.conn, items);
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
        self.peers.send_requests(retries);
        for conn in self.book.undelivering_peers() {
            self.peers
                .disconnect(conn, "announces what it never delivers");
        }
        for conn in self.book.peers_waiting() {
            self.request_waiting(conn);
        }
        self.publish_stats();
    }

    fn publish_stats(&self) {
        self.parts.stats.send_replace(self.book.stats());
    }
}

/// Announced items: those we lack are requested from the announcer; `have` says which we
/// hold.
fn request_announced(
    book: &mut Relay,
    peers: &PeerLinks,
    conn: ConnId,
    items: &[InvItem],
    have: impl Fn(&InvItem) -> bool,
) {
    if !peers.contains(conn) {
        return;
    }
    let request = book.announced(conn, items, have, Instant::now());
    peers.send_get_data(conn, &request);
}
