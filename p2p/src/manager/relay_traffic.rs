//! Relay in the manager: the messages peers send it (transactions, blocks, not-found
//! answers), announcements to request from, the verdicts of the admission and block
//! workers, and announcing new blocks and transactions. A block sync asked for goes to
//! sync first (`sync_driver.rs`).

use std::collections::HashSet;
use std::time::Instant;

use tern_chain::block::Block;
use tern_chain::error::TxError;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::BlockHash;
use tern_mempool::MempoolError;
use tern_state::chain::{ChainUpdate, Rejection, Verdict};

use super::Manager;
use crate::message::{InvItem, Message, MessageKind, MAX_INVENTORY_PER_MESSAGE};
use crate::peer::Misbehaviour;
use crate::relay::Delivery;
use crate::workers::Outcome;
use crate::ConnId;
use tern_mempool::SubmitError;

impl Manager {
    // ---- messages ----------------------------------------------------------------------

    pub(super) fn on_message(&mut self, conn: ConnId, message: Message) {
        if self.peer(conn).is_none() {
            return;
        }
        match message {
            Message::GetAddrs => self.answer_addrs(conn),
            Message::Addrs(addrs) => self.on_addrs(conn, addrs),
            Message::NotFound(items) => {
                let retries = self.relay.not_found(conn, &items, Instant::now());
                self.send_requests(retries);
                self.request_waiting(conn);
                let blocks = InvItem::blocks(&items);
                self.sync.on_not_found(conn, &blocks);
                self.drive_sync();
            }
            Message::Tx(tx) => self.on_tx(conn, *tx),
            // Announcements and header answers come as `PeerEvent::Inventory` and
            // `PeerEvent::Headers`, with what the store says of them; judging them
            // without it would misjudge them.
            other => tracing::debug!(kind = ?other.kind(), "message not for the manager"),
        }
    }

    /// Announced items: those we lack are requested. `stored` are the announced blocks
    /// the store holds, looked up by the peer's task.
    pub(super) fn on_inventory(
        &mut self,
        conn: ConnId,
        items: &[InvItem],
        stored: &HashSet<BlockHash>,
    ) {
        if self.peer(conn).is_none() {
            return;
        }
        let pool = &self.ctx.pool;
        let sync = &self.sync;
        // Blocks whose headers sync holds are fetched by sync.
        let have = |item: &InvItem| match item {
            InvItem::Tx(id) => pool.contains(id),
            InvItem::Block(hash) => sync.is_pending(hash) || stored.contains(hash),
        };
        let request = self.relay.announced(conn, items, have, Instant::now());
        self.send_get_data(conn, request);
    }

    /// Requests what waits in `conn`'s announcement queue, as its quota allows.
    pub(super) fn request_waiting(&mut self, conn: ConnId) {
        let pool = &self.ctx.pool;
        let request = self.relay.next_requests(
            conn,
            |item| matches!(item, InvItem::Tx(id) if pool.contains(id)),
            Instant::now(),
        );
        self.send_get_data(conn, request);
    }

    pub(super) fn on_tx(&mut self, conn: ConnId, tx: SignedTransaction) {
        let item = InvItem::Tx(tx.id());
        if self.relay.received(conn, item) == Delivery::Unsolicited {
            return self.punish(conn, Misbehaviour::Unsolicited(MessageKind::Tx));
        }
        self.relay.mark_recent(item);
        if self.txs.try_send((conn, tx)).is_err() {
            self.relay.forget_recent(&item);
        }
        self.request_waiting(conn);
    }

    pub(super) fn on_block(&mut self, conn: ConnId, block: Block, body_matches: bool) {
        let hash = block.hash();
        let item = InvItem::Block(hash);
        let block = match self.sync.on_block(conn, block, body_matches) {
            Ok(Some(block)) => block,
            Ok(None) => {
                // Sync took it (or it was a late answer to a sync request).
                self.relay.mark_known(conn, item);
                self.drive_sync();
                return;
            }
            Err(error) => return self.on_sync_error(conn, error),
        };
        if !body_matches {
            // A body that does not match its header proves nothing about the header: the
            // block may be fine with its real transactions. Ask the next announcer, and
            // do not remember the hash as handled, or honest announcements of the genuine
            // block would be ignored.
            let retries = self.relay.not_found(conn, &[item], Instant::now());
            self.send_requests(retries);
            return self.punish(conn, Misbehaviour::BodyMismatch(hash));
        }
        if self.relay.received(conn, item) == Delivery::Unsolicited {
            return self.punish(conn, Misbehaviour::Unsolicited(MessageKind::Block));
        }
        self.relay.mark_recent(item);
        if let Some(peer) = self.peer(conn) {
            if block.header.height > peer.best_height {
                peer.best_height = block.header.height;
                peer.best_hash = hash;
            }
        }
        if self.blocks.try_send((conn, block)).is_err() {
            tracing::debug!(%hash, "block queue full; the block will be fetched again");
            self.relay.forget_recent(&item);
        }
    }

    // ---- verdicts ----------------------------------------------------------------------

    pub(super) fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Tx { conn, id, result } => match result {
                Ok(()) => {}
                Err(SubmitError::Rejected(e)) if e.is_intrinsic() => {
                    if matches!(e, MempoolError::Invalid(TxError::BadSignature(_))) {
                        // Anyone can send a bad signature under someone else's id.
                        let retry =
                            self.relay
                                .refetch_elsewhere(InvItem::Tx(id), conn, Instant::now());
                        self.send_requests(retry.into_iter().collect());
                    }
                    self.punish(conn, Misbehaviour::InvalidTransaction(e));
                }
                // A race (nonce used meanwhile, pool full): an honest peer can send it.
                Err(SubmitError::Rejected(_)) => {}
                Err(SubmitError::Unavailable(error)) => {
                    tracing::debug!(%id, %error, "could not check a relayed transaction");
                    self.relay.forget_recent(&InvItem::Tx(id));
                }
            },
            Outcome::Block { conn, hash, result } => {
                if self.sync.is_submitted(&hash) {
                    if let Some(sender) = self.sync.on_verdict(&hash, &result) {
                        if let Ok(Verdict::Rejected(rejection)) = result {
                            self.punish(sender, Misbehaviour::InvalidBlock(rejection));
                        }
                    }
                } else {
                    self.on_block_outcome(conn, hash, result);
                }
                self.drive_sync();
            }
        }
    }

    pub(super) fn on_block_outcome(
        &mut self,
        conn: ConnId,
        hash: BlockHash,
        result: Result<Verdict, tern_state::chain::ChainError>,
    ) {
        match result {
            Ok(verdict) => match verdict {
                Verdict::Accepted | Verdict::AlreadyKnown => {}
                // We lack its ancestors: ask the sender where its chain leaves ours.
                Verdict::Orphaned => self.sync.hint(conn),
                // It may become valid once our clock catches up: fetch it again then.
                Verdict::Rejected(Rejection::NotYetValid { .. }) => {
                    self.relay.forget_recent(&InvItem::Block(hash));
                }
                // Checked before, in the connection task; should the chain still find a
                // mismatch, the header stays innocent all the same.
                Verdict::Rejected(rejection @ Rejection::BodyMismatch { .. }) => {
                    self.relay.forget_recent(&InvItem::Block(hash));
                    self.punish(conn, Misbehaviour::InvalidBlock(rejection));
                }
                Verdict::Rejected(rejection) => {
                    self.punish(conn, Misbehaviour::InvalidBlock(rejection));
                }
            },
            Err(error) => {
                tracing::error!(%hash, %error, "the chain could not take a block");
                self.relay.forget_recent(&InvItem::Block(hash));
            }
        }
    }

    // ---- announcements -----------------------------------------------------------------

    pub(super) fn on_chain_update(&mut self, update: &ChainUpdate) {
        let hashes: Vec<BlockHash> = update.connected.iter().map(|b| b.hash()).collect();
        self.announce_blocks(&hashes);
    }

    /// Blocks go out at once, to every peer that does not know them.
    pub(super) fn announce_blocks(&mut self, hashes: &[BlockHash]) {
        let items: Vec<InvItem> = hashes.iter().map(|h| InvItem::Block(*h)).collect();
        for item in &items {
            self.relay.mark_recent(*item);
        }
        self.announce(&items);
    }

    /// Transactions go out in one batch per peer per tick.
    pub(super) fn flush_announcements(&mut self) {
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

    pub(super) fn announce(&mut self, items: &[InvItem]) {
        for conn in self.ready_peers() {
            let fresh = self.relay.to_announce(conn, items);
            for chunk in fresh.chunks(MAX_INVENTORY_PER_MESSAGE) {
                if !self.send(conn, &Message::Inventory(chunk.to_vec())) {
                    break;
                }
            }
        }
    }
}
