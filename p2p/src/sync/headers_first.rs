//! Headers first: sync's header requests and what it makes of header answers, asked for
//! or not (step 1 of the [module's](super) plan). Headers are data whenever they come;
//! only a broken consensus rule is an offence.

use std::time::Instant;

use tern_chain::block::Header;
use tern_chain::error::BlockError;
use tern_chain::genesis::ConsensusParams;
use tern_chain::types::{BlockHash, Timestamp, Work};
use tern_state::chain::TipInfo;

use super::{
    HeaderChainError, Request, StoredParent, SyncAsk, SyncError, SyncState, MAX_PENDING_HEADERS,
    MAX_UNCONNECTING_HEADERS, MAX_UNPROVEN_HEADERS,
};
use crate::asked::Answer;
use crate::message::{MAX_HEADERS_PER_MESSAGE, MAX_LOCATOR_HASHES};
use crate::ConnId;

impl SyncState {
    /// Takes headers from `peer`: the answer to our latest request, a late answer to an
    /// earlier one, or headers it sent unasked (an announcement). All are data: kept if
    /// they attach and beat nothing we hold. Only the latest answer also says what the
    /// peer has (whether it has more, whether it serves the chain it claimed). An error
    /// means a header broke a consensus rule: the peer is to be banned.
    pub fn on_headers(
        &mut self,
        peer: ConnId,
        headers: &[Header],
        stored: Option<&StoredParent>,
        params: &ConsensusParams,
        our_work: Work,
        now: Timestamp,
    ) -> Result<(), SyncError> {
        let asked = self.asked.answer(peer, &SyncAsk::Headers) == Answer::Asked;
        // Answers come in order on one connection: this one is to the outstanding request
        // once it settles the peer's last ask.
        let latest = asked
            && self.header_request.is_some_and(|r| r.peer == peer)
            && self.asked.outstanding(peer, &SyncAsk::Headers) == 0;
        let asked_after = if latest {
            self.header_request = None;
            std::mem::take(&mut self.header_locator)
        } else {
            Vec::new()
        };
        let extension = match self.chain.extend(headers, stored, params, now) {
            Ok(extension) => extension,
            // Headers after a block we named in our own request, which we no longer hold
            // (our pending chain was dropped while the answer was on its way): a stale
            // answer, not the peer's fault. Sync asks again at its next drive.
            Err(HeaderChainError::Detached)
                if headers
                    .first()
                    .is_some_and(|first| asked_after.contains(&first.parent)) =>
            {
                return Ok(());
            }
            // Headers that attach to nothing we hold: a late answer to a locator we have
            // moved past, or a chain we lack. No rule is broken: ask the peer where its
            // chain meets ours, and drop one that keeps it up.
            Err(HeaderChainError::Detached) => {
                self.unconnecting(peer);
                return Ok(());
            }
            // Our clock may be the one behind: the headers may be valid in a while.
            Err(HeaderChainError::Invalid {
                error: BlockError::TimestampTooFarInFuture { .. },
                ..
            }) => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        for hash in &extension.dropped {
            self.forget_block(hash);
        }
        // A full answer means the peer has more, even if we kept fewer (at the pending
        // bound): it is asked again once the bodies catch up.
        let full = headers.len() == MAX_HEADERS_PER_MESSAGE;
        let chain_work = self.chain.last().map(|h| h.work);
        if let Some(state) = self.peers.get_mut(&peer) {
            if !headers.is_empty() {
                state.unconnecting = 0;
            }
            if let Some(last) = headers.last() {
                state.best_height = state.best_height.max(last.height);
                state.known.insert(last.hash());
                self.snapshot.raise_best(peer, last.height);
            }
            // The pending chain ends with this peer's headers if they added to it.
            if let Some(work) = chain_work.filter(|_| latest || extension.added > 0) {
                state.claimed = state.claimed.max(work);
            }
            if latest {
                state.exhausted = !full;
            }
        }
        let worth_it = chain_work.is_some_and(|work| work > our_work);
        let proven_or_small = worth_it || self.chain.len() < MAX_UNPROVEN_HEADERS;
        if !latest {
            // What a late or unasked answer shows of the peer's chain is partial: only the
            // bound applies (and the sweep in `drive` once no request is outstanding).
            if !proven_or_small {
                self.clear_chain();
            }
            return Ok(());
        }
        self.more_from = full.then_some(peer);
        // A complete answer that shows less work than the peer claimed (its hello, or
        // what it showed before): it claims a chain it does not serve.
        let shown = chain_work.unwrap_or(our_work).max(our_work);
        if !full && self.peers.get(&peer).is_some_and(|s| s.claimed > shown) {
            self.unserved.push(peer);
        }
        if (!full && !worth_it) || !proven_or_small {
            // Nothing here beats our chain (perhaps we moved on meanwhile).
            self.clear_chain();
        }
        Ok(())
    }

    /// `peer` sent headers that attach to nothing we hold: ask it for headers from our
    /// locator, and drop it after [`MAX_UNCONNECTING_HEADERS`] such messages in a row.
    pub(super) fn unconnecting(&mut self, peer: ConnId) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.unconnecting = state.unconnecting.saturating_add(1);
        if state.unconnecting >= MAX_UNCONNECTING_HEADERS {
            self.unserved.push(peer);
        } else {
            state.hinted = true;
            state.exhausted = false;
        }
    }

    pub(super) fn clear_chain(&mut self) {
        for hash in self.chain.clear() {
            self.forget_block(&hash);
        }
    }

    pub(super) fn next_header_request(
        &mut self,
        now: Instant,
        tip: &TipInfo,
        ours: &[BlockHash],
    ) -> Option<(ConnId, Vec<BlockHash>)> {
        if self.header_request.is_some() || self.chain.len() >= MAX_PENDING_HEADERS / 2 {
            return None;
        }
        let best_known = self
            .chain
            .last()
            .map_or(tip.cumulative_work, |h| h.work.max(tip.cumulative_work));
        let source = self
            .more_from
            .filter(|p| self.peers.contains_key(p))
            .or_else(|| {
                self.peers
                    .iter()
                    .filter(|(_, s)| !s.exhausted && (s.claimed > best_known || s.hinted))
                    .max_by_key(|(_, s)| s.claimed)
                    .map(|(peer, _)| *peer)
            })?;
        let mut locator: Vec<BlockHash> = self.chain.last().map(|h| h.hash).into_iter().collect();
        locator.extend_from_slice(ours);
        locator.truncate(MAX_LOCATOR_HASHES);
        if let Some(state) = self.peers.get_mut(&source) {
            state.hinted = false;
        }
        self.header_request = Some(Request {
            peer: source,
            deadline: now + self.config.request_timeout,
        });
        self.asked.ask(source, SyncAsk::Headers);
        self.header_locator.clone_from(&locator);
        Some((source, locator))
    }
}
