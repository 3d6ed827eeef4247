//! Driving sync from the manager: header answers into [`crate::sync::SyncState`], what it
//! asks for out to peers and the chain, its status published and its progress logged.

use std::time::Instant;

use tern_chain::block::Header;
use tern_chain::types::Timestamp;

use super::{Manager, PROGRESS_LOG_INTERVAL};
use crate::message::{InvItem, Message, MessageKind};
use crate::peer::Misbehaviour;
use crate::sync::{StoredParent, SyncError};
use crate::ConnId;

impl Manager {
    /// A header answer: only to a request sync made. `stored_parent` is the stored block
    /// the first header's parent is, if it is one.
    pub(super) fn on_headers(
        &mut self,
        conn: ConnId,
        headers: Vec<Header>,
        stored_parent: Option<StoredParent>,
    ) {
        if self.peer(conn).is_none() {
            return;
        }
        if !self.sync.awaits_headers_from(conn) {
            return self.punish(conn, Misbehaviour::Unsolicited(MessageKind::Headers));
        }
        let our_work = self.ctx.chain.tip().cumulative_work;
        let params = &self.ctx.chain.reader().spec().consensus;
        if let Err(error) = self.sync.on_headers(
            conn,
            &headers,
            stored_parent.as_ref(),
            params,
            our_work,
            Timestamp::now(),
        ) {
            return self.on_sync_error(conn, error);
        }
        if let (Some(peer), Some(last)) = (self.peer(conn), headers.last()) {
            if last.height > peer.best_height {
                peer.best_height = last.height;
                peer.best_hash = last.hash();
            }
        }
        self.drive_sync();
    }

    /// Lets sync expire late requests, then sends what it asks for and hands downloaded
    /// blocks to the chain in order.
    pub(super) fn drive_sync(&mut self) {
        let tip = self.ctx.chain.tip();
        let locator = std::sync::Arc::clone(&self.locator.borrow());
        let actions = self.sync.drive(Instant::now(), &tip, &locator);
        if let Some((conn, locator)) = actions.headers {
            self.send(
                conn,
                &Message::GetHeaders {
                    locator,
                    stop: None,
                },
            );
        }
        for (conn, hashes) in actions.blocks {
            self.send_get_data(conn, hashes.into_iter().map(InvItem::Block).collect());
        }
        for conn in actions.drop {
            self.kick(
                conn,
                "does not serve the chain it claims: requests stalled or headers fell short",
            );
        }
        for (conn, block) in actions.submit {
            if let Err(error) = self.blocks.try_send((conn, block)) {
                let (conn, block) = error.into_inner();
                self.sync.unsubmit(conn, block);
            }
        }
    }

    /// Publishes the sync status, and logs progress while syncing.
    pub(super) fn report_sync(&mut self) {
        let tip = self.ctx.chain.tip();
        let status = self.sync.status(&tip);
        self.sync_status.send_replace(status);
        if status.syncing && self.last_progress_log.elapsed() >= PROGRESS_LOG_INTERVAL {
            self.last_progress_log = Instant::now();
            tracing::info!(
                height = status.current_height.value(),
                target = status.target_height.value(),
                blocks_per_sec = format!("{:.1}", status.blocks_per_sec),
                txs_per_sec = format!("{:.0}", status.txs_per_sec),
                eta_secs = status.eta_secs,
                peers = status.peers,
                "syncing"
            );
        }
        if self.was_syncing && !status.syncing {
            tracing::info!(
                height = tip.height().value(),
                "synced; following new blocks"
            );
        }
        self.was_syncing = status.syncing;
    }

    /// Sync refused what `conn` sent: the peer broke a rule.
    pub(super) fn on_sync_error(&mut self, conn: ConnId, error: SyncError) {
        let offence = match error {
            SyncError::Headers(error) => Misbehaviour::BadHeaders(error),
            SyncError::BodyMismatch(hash) => Misbehaviour::BodyMismatch(hash),
        };
        self.punish(conn, offence);
    }
}
