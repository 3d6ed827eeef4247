//! Bodies: the record of every block request in flight, whatever made it (the pending
//! headers or an announcement), the blocks that answer them, and the chain's verdicts on
//! what sync handed it (steps 2 and 3 of the [module's](super) plan).

use std::time::Instant;

use tern_chain::block::Block;
use tern_chain::types::{BlockHash, Height, Work};
use tern_state::chain::{ChainError, Rejection, Verdict};

use super::announced::Source;
use super::{Submitted, SyncAsk, SyncError, SyncState, MAX_ALLOWANCE, MAX_STALLS, SUBMIT_AHEAD};
use crate::asked::Answer;
use crate::message::InvItem;
use crate::ConnId;

impl SyncState {
    /// Takes a block from `peer`. One sync asked for (or wants: a pending header's) is
    /// kept; a late answer, which someone else answered first, is dropped without blame;
    /// any other is unsolicited. `body_matches` says whether its transactions match its
    /// header's Merkle root (the connection task checked, on the blocking pool, so the sync
    /// task never hashes a whole block).
    ///
    /// A `compact` block nobody asked for is one a peer pushed (see
    /// [`super::high_bandwidth`]): never unsolicited.
    pub fn on_block(
        &mut self,
        peer: ConnId,
        block: Block,
        body_matches: bool,
        compact: bool,
        now: Instant,
    ) -> Result<(), SyncError> {
        let hash = block.hash();
        // A compact block answers only a request for one; a whole block answers either
        // (a node may send an old block whole when asked for it compact).
        let asked = if compact {
            self.asked.answer(peer, &SyncAsk::Compact(hash)) == Answer::Asked
        } else {
            self.asked.answer(peer, &SyncAsk::Block(hash)) == Answer::Asked
                || self.asked.answer(peer, &SyncAsk::Compact(hash)) == Answer::Asked
        };
        let pending = self.chain.get(&hash).is_some()
            && !self.downloaded.contains_key(&hash)
            && !self.submitted.contains_key(&hash);
        // An announced block still being fetched, from this peer or (after its request
        // to this one timed out) from the next announcer, or one nobody delivered in
        // time and this late answer brings: the copy in hand is taken.
        let announced = asked && (self.announcers.contains_key(&hash) || self.awaited.take(&hash));
        if !pending && !announced {
            return match (asked, compact) {
                (true, _) => Ok(()),
                (false, true) => {
                    self.take_pushed(peer, block);
                    Ok(())
                }
                (false, false) => Err(SyncError::Unsolicited(hash)),
            };
        }
        // The hash covers the header, so only the body can differ from what we expect.
        // A forged body proves nothing about the header: the block goes to the next
        // announcer, and is not remembered as refused.
        if !body_matches {
            if self.announcers.contains_key(&hash) {
                self.end_request(&hash);
                self.announced_request_ended(&hash, now, None);
            }
            return Err(SyncError::BodyMismatch(hash));
        }
        self.end_request(&hash);
        if let Some(state) = self.peers.get_mut(&peer) {
            state.stalls = 0;
            state.progressed = true;
            state.allowance = (state.allowance + 1).min(MAX_ALLOWANCE);
            state.best_height = state.best_height.max(block.header.height);
            state.known.insert(hash);
        }
        self.failed_from.remove(&hash);
        if pending {
            self.announcers.remove(&hash);
            self.downloaded.insert(hash, (peer, block));
        } else {
            self.take_announced(peer, block);
        }
        Ok(())
    }

    /// Ends the request for `hash`, whoever it was made of.
    pub(super) fn end_request(&mut self, hash: &BlockHash) {
        if let Some(request) = self.in_flight.remove(hash) {
            if let Some(state) = self.peers.get_mut(&request.peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
        }
    }

    /// `peer` does not have these blocks (`items`, whole or compact as they were asked
    /// for): ask someone else.
    pub fn on_not_found(&mut self, peer: ConnId, items: &[InvItem], now: Instant) {
        for item in items {
            let (hash, ask) = match item {
                InvItem::Block(hash) => (hash, SyncAsk::Block(*hash)),
                InvItem::CompactBlock(hash) => (hash, SyncAsk::Compact(*hash)),
                InvItem::Tx(_) => continue,
            };
            // "Not found" settles an ask as the block would; one we never made is ignored.
            let _ = self.asked.answer(peer, &ask);
            if self.in_flight.get(hash).is_some_and(|r| r.peer == peer) {
                self.end_request(hash);
                self.failed_from.insert(*hash, peer);
                self.announced_request_ended(hash, now, None);
            }
        }
    }

    /// The chain's verdict on a block sync submitted (or the chain's own failure to
    /// judge it). Returns the peer that sent the block, to ban, if the block broke a rule;
    /// such a block is remembered as refused. A block not valid yet (its timestamp ahead
    /// of our clock, or a snapshot still being restored) or a chain that failed blames
    /// nobody.
    ///
    /// A pending header's block that is stored (connected, on a side branch, or waiting
    /// for its parent) moves sync on; any other verdict drops the rest of that header
    /// chain, and sync starts over later. An announced block that the chain cannot place
    /// has its sender asked for headers: it has a chain we lack.
    pub fn on_verdict(
        &mut self,
        hash: &BlockHash,
        verdict: &Result<Verdict, ChainError>,
    ) -> Option<ConnId> {
        let Submitted {
            sender,
            txs,
            source,
        } = self.submitted.remove(hash)?;
        let offence = match verdict {
            Ok(Verdict::Rejected(Rejection::NotYetValid { .. } | Rejection::Restoring { .. }))
            | Err(_) => None,
            // Pushed before its sender validated it: no offence, and no more pushes.
            Ok(Verdict::Rejected(_)) if source == Source::Pushed => {
                self.rejected.insert(*hash);
                self.demote(sender);
                None
            }
            // The connection task checked the body; should the chain still find a
            // mismatch, the header stays innocent and the block may come again.
            Ok(Verdict::Rejected(Rejection::BodyMismatch { .. })) => Some(sender),
            Ok(Verdict::Rejected(_)) => {
                self.rejected.insert(*hash);
                Some(sender)
            }
            Ok(Verdict::Accepted | Verdict::AlreadyKnown | Verdict::Orphaned) => None,
        };
        match (source, verdict) {
            (
                Source::Headers,
                Ok(Verdict::Accepted | Verdict::AlreadyKnown | Verdict::Orphaned),
            ) => {
                self.progress.connected(txs);
                self.chain.connected(hash);
            }
            (Source::Headers, _) => {
                self.clear_chain();
                self.submitted.retain(|_, s| s.source != Source::Headers);
            }
            (Source::Announced | Source::Pushed, Ok(Verdict::Accepted)) => {
                self.chain.connected(hash);
                self.promote(sender);
            }
            (Source::Announced | Source::Pushed, Ok(Verdict::AlreadyKnown)) => {
                self.chain.connected(hash);
            }
            (Source::Announced | Source::Pushed, Ok(Verdict::Orphaned)) => self.hint(sender),
            (Source::Announced | Source::Pushed, _) => {}
        }
        offence
    }

    /// Puts a block back that the chain actor could not take yet (its queue was full).
    pub fn unsubmit(&mut self, block: Block) {
        let hash = block.hash();
        match self.submitted.remove(&hash) {
            Some(Submitted {
                sender,
                source: Source::Headers,
                ..
            }) => {
                self.downloaded.insert(hash, (sender, block));
            }
            Some(Submitted {
                sender,
                source: source @ (Source::Announced | Source::Pushed),
                ..
            }) => self.ready.push_front((sender, block, source)),
            None => {}
        }
    }

    pub(super) fn forget_block(&mut self, hash: &BlockHash) {
        self.end_request(hash);
        self.announcers.remove(hash);
        self.downloaded.remove(hash);
        self.failed_from.remove(hash);
    }

    /// The block requests made since the last drive, one run per peer. An announced
    /// block, new at the tip, is asked for compact: the mempool likely holds its
    /// transactions. A pending header's block, older, is asked for whole.
    pub(super) fn take_requests(&mut self) -> Vec<(ConnId, Vec<InvItem>)> {
        let mut batches: Vec<(ConnId, Vec<InvItem>)> = Vec::new();
        let mut requests = std::mem::take(&mut self.to_request);
        requests.sort_by_key(|(peer, _)| *peer);
        let whole = std::mem::take(&mut self.whole_wanted);
        for (peer, hash) in requests {
            let (item, ask) = if self.announcers.contains_key(&hash) && !whole.contains(&hash) {
                (InvItem::CompactBlock(hash), SyncAsk::Compact(hash))
            } else {
                (InvItem::Block(hash), SyncAsk::Block(hash))
            };
            self.asked.ask(peer, ask);
            match batches.last_mut() {
                Some((last, items)) if *last == peer => items.push(item),
                _ => batches.push((peer, vec![item])),
            }
        }
        batches
    }

    /// Ends late requests; returns the peers that have now stalled too often.
    ///
    /// A request's deadline runs from when it was sent, or from the peer's last delivery
    /// if that came later: a peer asked for 16 blocks sends them one after another, and
    /// on a slow link the last may be due long after the first. And all the requests of a
    /// peer that are late at one look count as one stall: 16 blocks late together are
    /// one slow link, not 16 stalls, or a peer behind a slow link would be dropped before
    /// its first block arrived, and the next one too, for ever.
    pub(super) fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        let mut drop = std::mem::take(&mut self.unserved);
        let renewed = now + self.config.request_timeout;
        for request in self.in_flight.values_mut() {
            if self.peers.get(&request.peer).is_some_and(|s| s.progressed) {
                request.deadline = request.deadline.max(renewed);
            }
        }
        for state in self.peers.values_mut() {
            state.progressed = false;
        }
        let mut stalled: std::collections::HashSet<ConnId> = std::collections::HashSet::new();
        let late: Vec<(BlockHash, ConnId)> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(hash, r)| (*hash, r.peer))
            .collect();
        for (hash, peer) in &late {
            self.end_request(hash);
            self.failed_from.insert(*hash, *peer);
            if let Some(state) = self.peers.get_mut(peer) {
                if stalled.insert(*peer) {
                    state.allowance = (state.allowance / 2).max(1);
                    state.stalls = state.stalls.saturating_add(1);
                }
            }
        }
        for (hash, peer) in &late {
            self.announced_request_ended(hash, now, Some(*peer));
        }
        if let Some(request) = self.header_request {
            if request.deadline <= now {
                // Counted like a late block: asked again (it or another peer), and
                // dropped after MAX_STALLS in a row. Never just given up on, or a peer
                // claiming more work would leave the node behind for good.
                self.header_request = None;
                if let Some(state) = self.peers.get_mut(&request.peer) {
                    state.stalls = state.stalls.saturating_add(1);
                }
            }
        }
        drop.extend(
            self.peers
                .iter()
                .filter(|(_, s)| s.stalls >= MAX_STALLS)
                .map(|(peer, _)| *peer),
        );
        drop
    }

    /// Block requests for the pending headers, once their chain has more work than
    /// `our_work`: a chain that does not, however long, costs its headers but never a
    /// block.
    pub(super) fn next_block_requests(&mut self, now: Instant, our_work: Work) {
        if self.chain.last().is_none_or(|last| last.work <= our_work) {
            return;
        }
        let wanted: Vec<(BlockHash, Height)> = self
            .chain
            .iter()
            .take(self.config.window)
            .filter(|h| {
                !self.in_flight.contains_key(&h.hash)
                    && !self.downloaded.contains_key(&h.hash)
                    && !self.submitted.contains_key(&h.hash)
            })
            .map(|h| (h.hash, h.header.height))
            .collect();
        if wanted.is_empty() {
            return;
        }
        // The peers with the most work, up to the configured number.
        let mut helpers: Vec<(ConnId, Work)> =
            self.peers.iter().map(|(p, s)| (*p, s.claimed)).collect();
        helpers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        helpers.truncate(self.config.max_peers);
        for (hash, height) in wanted {
            let avoid = self.failed_from.get(&hash).copied();
            let pick = helpers
                .iter()
                .filter_map(|(peer, _)| {
                    let state = self.peers.get(peer)?;
                    let free = state.allowance.saturating_sub(state.in_flight);
                    let serves = state.best_height >= height && state.lowest_body <= height;
                    (free > 0 && serves).then_some((*peer, free))
                })
                // Most free allowance first; the peer that just failed this block last.
                .max_by_key(|(peer, free)| (Some(*peer) != avoid, *free));
            if let Some((peer, _)) = pick {
                self.ask_block(peer, hash, now);
            }
        }
    }

    /// The blocks to hand to the chain now: announced ones as they came, and the pending
    /// headers' downloaded blocks in height order, at most [`SUBMIT_AHEAD`] of those
    /// waiting for a verdict.
    pub(super) fn next_submissions(&mut self) -> Vec<Block> {
        let mut ready = Vec::new();
        for (peer, block, source) in std::mem::take(&mut self.ready) {
            let submitted = Submitted {
                sender: peer,
                txs: block.transactions.len(),
                source,
            };
            self.submitted.insert(block.hash(), submitted);
            ready.push(block);
        }
        let mut outstanding = self
            .submitted
            .values()
            .filter(|s| s.source == Source::Headers)
            .count();
        let mut order = Vec::new();
        for pending in self.chain.iter() {
            if outstanding >= SUBMIT_AHEAD {
                break;
            }
            if self.submitted.contains_key(&pending.hash) {
                continue;
            }
            if !self.downloaded.contains_key(&pending.hash) {
                break;
            }
            order.push(pending.hash);
            outstanding += 1;
        }
        for hash in order {
            if let Some((peer, block)) = self.downloaded.remove(&hash) {
                let submitted = Submitted {
                    sender: peer,
                    txs: block.transactions.len(),
                    source: Source::Headers,
                };
                self.submitted.insert(hash, submitted);
                ready.push(block);
            }
        }
        ready
    }
}
