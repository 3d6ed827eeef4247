//! High-bandwidth compact relay, BIP152's: the up to [`MAX_HIGH_BANDWIDTH_PEERS`] peers
//! that most recently delivered a new block first are asked (`SendCompact(true)`) to
//! push each new block as a compact block at once, with no announcement and no request
//! in between: one trip per hop when the mempool holds the transactions. A peer that
//! falls out of the three is told `SendCompact(false)` and announces again. Which peers
//! push to us is ours to choose; which peers we push to is theirs.
//!
//! A pushed compact block is taken as an announced block delivered, if it is new; from a
//! peer we did not ask to push (one we just dropped from the three, say), it is ignored
//! without blame. When short ids cannot rebuild a block, its whole is asked of the same
//! peer, by sync, as any request.
//!
//! A node pushes a new block on as soon as its header checks against the tip
//! ([`relays_early`]), before the chain has validated the rest, as BIP152 allows: proof of
//! work bounds what a liar can cost. So a pushed block that the chain refuses is no
//! offence of its pusher, which is only asked to push no more.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::genesis::ConsensusParams;
use tern_chain::types::{BlockHash, Timestamp};
use tern_chain::validation::check_proof_of_work;
use tern_state::chain::TipInfo;

use super::announced::{Source, MAX_ANNOUNCED_IN_FLIGHT};
use super::SyncState;
use crate::ConnId;

/// Peers asked to push new blocks at once (BIP152's three).
pub const MAX_HIGH_BANDWIDTH_PEERS: usize = 3;

/// New blocks one chain update may push to a peer; an update that connects more (a
/// reorg, a catch-up) is announced instead, for the peer to fetch as it can.
pub const MAX_PUSHED_PER_UPDATE: usize = 3;

/// Blocks pushed to one peer in any second, at most; the next are announced, for the
/// peer to fetch as it can. Pushing is for new blocks at the tip, one trip a hop; a burst
/// (a development chain mining a thousand blocks on demand) would only queue up at the
/// receiver, which rebuilds each from its pool, behind the blocks it asked for.
pub const MAX_PUSHES_PER_SECOND: usize = 8;

/// Whether a block with `header`, new at the tip, may be pushed on before the chain has
/// validated it: it extends `tip` with the height, the target and the proof of work the
/// chain requires, and is not stamped past the drift allowed at `now`. What needs the
/// chain (the median time past, the body's rules, the state) the chain checks after.
pub fn relays_early(
    header: &Header,
    tip: &TipInfo,
    params: &ConsensusParams,
    now: Timestamp,
) -> bool {
    let target = tern_chain::pow::next_target(
        &params.difficulty(),
        tip.header.height,
        tip.header.timestamp,
    );
    let latest = now.as_millis().saturating_add(params.max_future_drift_ms);
    header.parent == tip.hash
        && tip.header.height.next() == Some(header.height)
        && header.target == target
        && header.timestamp.as_millis() <= latest
        && check_proof_of_work(header, params).is_ok()
}

impl SyncState {
    /// `peer` delivered a block the chain stored, before anyone else: it becomes the most
    /// recent of the peers asked to push, and the least recent of four makes room.
    pub(super) fn promote(&mut self, peer: ConnId) {
        if !self.peers.contains_key(&peer) {
            return;
        }
        let line = &mut self.high_bandwidth;
        if let Some(at) = line.iter().position(|p| *p == peer) {
            line.remove(at);
            line.push_back(peer);
            return;
        }
        line.push_back(peer);
        self.to_send_compact.push((peer, true));
        if line.len() > MAX_HIGH_BANDWIDTH_PEERS {
            if let Some(oldest) = line.pop_front() {
                self.to_send_compact.push((oldest, false));
            }
        }
    }

    /// `peer` pushed a block the chain refused: it relays before validating, so that is
    /// no offence, but it is asked to push no more (BIP152's rule).
    pub(super) fn demote(&mut self, peer: ConnId) {
        if let Some(at) = self.high_bandwidth.iter().position(|p| *p == peer) {
            self.high_bandwidth.remove(at);
            self.to_send_compact.push((peer, false));
        }
    }

    /// The peers asked to push, least recent first.
    pub fn high_bandwidth_peers(&self) -> &VecDeque<ConnId> {
        &self.high_bandwidth
    }

    /// `peer` asks us to push new blocks to it as compact blocks (`push`), or to announce
    /// them.
    pub fn on_send_compact(&mut self, peer: ConnId, push: bool) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.wants_push = push;
        }
    }

    /// Whether new blocks go to `peer` pushed as compact blocks.
    pub fn wants_push(&self, peer: ConnId) -> bool {
        self.peers.get(&peer).is_some_and(|state| state.wants_push)
    }

    /// Whether a new block may be pushed to `peer` at `now`: it asked for pushes, and
    /// fewer than [`MAX_PUSHES_PER_SECOND`] went to it in the last second. A push allowed
    /// is counted.
    pub fn may_push(&mut self, peer: ConnId, now: Instant) -> bool {
        let Some(state) = self.peers.get_mut(&peer) else {
            return false;
        };
        if !state.wants_push {
            return false;
        }
        let pushes = &mut state.recent_pushes;
        while pushes
            .front()
            .is_some_and(|at| now.saturating_duration_since(*at) >= Duration::from_secs(1))
        {
            pushes.pop_front();
        }
        if pushes.len() >= MAX_PUSHES_PER_SECOND {
            return false;
        }
        pushes.push_back(now);
        true
    }

    /// A compact block from `peer` that nobody asked for: taken as an announced block
    /// delivered if `peer` is one we asked to push and sync does not hold the block yet
    /// (a request of it to another peer is ended: the first copy wins); otherwise
    /// ignored, never blamed.
    pub(super) fn take_pushed(&mut self, peer: ConnId, block: Block) {
        let hash = block.hash();
        if let Some(state) = self.peers.get_mut(&peer) {
            state.known.insert(hash);
        }
        if !self.high_bandwidth.contains(&peer)
            || self.snapshot.holds_blocks()
            || self.rejected.contains(&hash)
        {
            return;
        }
        // Asked of another peer and not arrived yet: the first copy wins. That request
        // ends, and its answer, when it comes, is taken as an answer, without blame.
        let awaited = self.in_flight.contains_key(&hash)
            && !self.downloaded.contains_key(&hash)
            && !self.submitted.contains_key(&hash);
        if awaited {
            self.end_request(&hash);
        } else if self.is_handled(&hash) {
            return;
        }
        self.take_alone(peer, block, Source::Pushed);
    }

    /// Short ids could not rebuild the compact block `hash` from `peer`: its whole is
    /// asked of the same peer. For our own request, still open, that is one more ask
    /// under it; for a pushed block, a new request, as for an announcement.
    pub fn on_compact_not_rebuilt(&mut self, peer: ConnId, hash: BlockHash, now: Instant) {
        if self.in_flight.get(&hash).is_some_and(|r| r.peer == peer) {
            self.whole_wanted.insert(hash);
            self.to_request.push((peer, hash));
            return;
        }
        if !self.high_bandwidth.contains(&peer)
            || self.rejected.contains(&hash)
            || self.is_handled(&hash)
        {
            return;
        }
        if self.announcers.len() >= MAX_ANNOUNCED_IN_FLIGHT || !self.ask_block(peer, hash, now) {
            self.hint(peer);
            return;
        }
        self.announcers.insert(hash, VecDeque::new());
        self.whole_wanted.insert(hash);
    }
}
