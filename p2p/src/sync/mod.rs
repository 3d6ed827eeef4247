//! Sync: reach the chain with the most work among our peers, from several peers at once.
//!
//! 1. **Headers first.** A peer that claims more work than our tip (in its hello), or that
//!    sent a block whose parent we lack, is asked for headers after our chain (a block
//!    locator). They are checked against every header rule and kept in a
//!    [`HeaderChain`] before any body is fetched; a full answer is followed by the next
//!    request at once. Headers whose chain, once complete, has no more work than ours are
//!    dropped, and at most [`MAX_UNPROVEN_HEADERS`] are kept before their work beats ours.
//! 2. **Bodies in parallel, once the headers prove more work.** Nothing is fetched while
//!    the pending headers' chain has no more work than ours (a peer that claimed more and
//!    serves less costs headers, never blocks). Then the blocks of the first
//!    [`SyncConfig::window`] pending headers are requested from up to [`SyncConfig::max_peers`] peers, each with an
//!    allowance of blocks in flight that grows with every delivery and halves when a
//!    request times out; a timed-out or refused block goes to another peer. A body that
//!    does not match its header gets the sender banned.
//! 3. **In order.** Downloaded blocks go to the chain actor in height order (at most
//!    [`SUBMIT_AHEAD`] waiting for a verdict), which checks them fully, signatures batched
//!    on its own thread, and reorgs if the branch has more work. A block the chain refuses
//!    ends this header chain and gets its sender banned.
//!
//! Resuming after a restart needs nothing special: the locator starts from the tip we
//! have, so nothing connected is fetched again.
//!
//! [`SyncState`] is synchronous (sans-IO); the sync task (`task.rs`) owns it, feeds it
//! what peers send and sends what [`SyncState::drive`] asks for. Nothing here reads the
//! store: the locator and a header answer's stored parent are read on the blocking pool
//! and handed in.

mod progress;
mod task;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::{Duration, Instant};

use lru::LruCache;

use tern_chain::block::{Block, Header};
use tern_chain::genesis::ConsensusParams;
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_state::chain::{ChainError, Rejection, TipInfo, Verdict};

pub use crate::header_chain::{
    HeaderChain, HeaderChainError, PendingHeader, StoredParent, MAX_PENDING_HEADERS,
};
pub use progress::SyncStatus;
pub(crate) use task::{spawn, SyncParts, SYNC_QUEUE};

use super::message::MAX_LOCATOR_HASHES;
use super::ConnId;
use progress::Progress;

/// Headers kept at most while their chain has no more work than ours.
pub const MAX_UNPROVEN_HEADERS: usize = 10_000;

/// Blocks handed to the chain actor and not yet judged.
pub const SUBMIT_AHEAD: usize = 32;

/// (peer, block) requests remembered, so a late answer is not taken for unsolicited data.
pub const REMEMBERED_REQUESTS: usize = 16_384;

/// Rounds of timed-out requests in a row (see [`SyncState::drive`]'s expiry) after which
/// a peer is dropped: it claims a chain it does not serve. Not banned: an overloaded
/// honest peer looks the same.
pub const MAX_STALLS: u32 = 3;

/// Blocks a peer may have in flight to start with...
pub const INITIAL_ALLOWANCE: usize = 16;
/// ...and at most, after many deliveries.
pub const MAX_ALLOWANCE: usize = 128;

/// How sync behaves.
#[derive(Debug, Clone, Copy)]
pub struct SyncConfig {
    /// Peers to download bodies from at once.
    pub max_peers: usize,
    /// Pending headers whose bodies may be fetched ahead of the connected tip. The memory
    /// it can take is this times the chain's largest block.
    pub window: usize,
    /// Time a peer has to deliver requested blocks or headers.
    pub request_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            max_peers: 8,
            window: 512,
            request_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
struct SyncPeer {
    /// The most work it has shown or claimed.
    claimed: Work,
    best_height: Height,
    allowance: usize,
    in_flight: usize,
    /// It answered a header request with nothing new: do not ask again until it shows
    /// something new.
    exhausted: bool,
    /// It sent a block we cannot place: it has a chain we lack, whatever its hello said.
    hinted: bool,
    /// Rounds of requests that timed out since its last delivery.
    stalls: u32,
    /// It delivered a block since the last [`SyncState::drive`]: its other requests get
    /// a new deadline, since a peer sends what it was asked for one block after another.
    progressed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    peer: ConnId,
    deadline: Instant,
}

/// What the sync task should send or submit after [`SyncState::drive`].
#[derive(Debug, Default)]
pub struct Actions {
    /// `GetHeaders` with this locator to this peer.
    pub headers: Option<(ConnId, Vec<BlockHash>)>,
    /// `GetData` for these blocks, per peer.
    pub blocks: Vec<(ConnId, Vec<BlockHash>)>,
    /// Blocks to hand to the chain actor, in order, with the peer that sent each.
    pub submit: Vec<(ConnId, Block)>,
    /// Peers to disconnect: they stalled [`MAX_STALLS`] times in a row, or claimed more
    /// work than their headers show. Not banned: an overloaded honest peer, or one that
    /// lost a reorg race, looks the same.
    pub drop: Vec<ConnId>,
}

/// What sync made of a block a peer sent. A copy answers one request: relay must know
/// whose, or the copy that answers its own request would look unsolicited.
#[derive(Debug)]
pub enum BlockFate {
    /// Sync had asked the peer for it: kept, or dropped as a late answer. A request of
    /// relay's for it, if any, still has its answer to come.
    AnsweredSync,
    /// Sync had not asked the peer, but wanted the block: kept. The copy answers relay's
    /// request, if it made one.
    TakenUnasked,
    /// Nothing to do with sync: relay judges it.
    ForRelay(Block),
}

/// Why a peer's sync data was refused. Each gets the peer banned.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Its headers broke a rule or did not attach.
    #[error(transparent)]
    Headers(#[from] HeaderChainError),
    /// A body did not match its header.
    #[error("block {0}: the transactions do not match the header's Merkle root")]
    BodyMismatch(BlockHash),
}

/// The sync state.
#[derive(Debug)]
pub struct SyncState {
    config: SyncConfig,
    chain: HeaderChain,
    peers: HashMap<ConnId, SyncPeer>,
    header_request: Option<Request>,
    /// The locator of the outstanding header request: an answer after any of these
    /// hashes is one we asked for.
    header_locator: Vec<BlockHash>,
    /// The peer whose last header answer was full: it has more.
    more_from: Option<ConnId>,
    in_flight: HashMap<BlockHash, Request>,
    /// The last peer that failed to deliver each block, to try another first.
    failed_from: HashMap<BlockHash, ConnId>,
    downloaded: HashMap<BlockHash, (ConnId, Block)>,
    /// Handed to the chain, verdict pending: the sender and the transaction count.
    submitted: HashMap<BlockHash, (ConnId, usize)>,
    /// How many requests for each block are outstanding with each peer. Usually one; two
    /// when a request timed out and went to the same peer again, and then both answers
    /// are ours.
    requested: LruCache<(ConnId, BlockHash), u32>,
    /// Peers whose complete header answer showed less work than they claimed, to drop.
    unserved: Vec<ConnId>,
    progress: Progress,
}

impl SyncState {
    /// Idle sync state.
    pub fn new(config: SyncConfig) -> SyncState {
        SyncState {
            config,
            chain: HeaderChain::default(),
            peers: HashMap::new(),
            header_request: None,
            header_locator: Vec::new(),
            more_from: None,
            in_flight: HashMap::new(),
            failed_from: HashMap::new(),
            downloaded: HashMap::new(),
            submitted: HashMap::new(),
            requested: LruCache::new(
                NonZeroUsize::new(REMEMBERED_REQUESTS).unwrap_or(NonZeroUsize::MIN),
            ),
            unserved: Vec::new(),
            progress: Progress::default(),
        }
    }

    /// A new peer, with what its hello claims.
    pub fn add_peer(&mut self, peer: ConnId, claimed: Work, best_height: Height) {
        self.peers.insert(
            peer,
            SyncPeer {
                claimed,
                best_height,
                allowance: INITIAL_ALLOWANCE,
                in_flight: 0,
                exhausted: false,
                hinted: false,
                stalls: 0,
                progressed: false,
            },
        );
    }

    /// A peer left; what it was fetching goes to others at the next
    /// [`SyncState::drive`]. If no peer left claims the pending chain's work, nobody can
    /// serve it: it is dropped (and asked for again from whoever shows more work later).
    pub fn remove_peer(&mut self, peer: ConnId) {
        self.peers.remove(&peer);
        self.in_flight.retain(|_, r| r.peer != peer);
        if let Some(work) = self.chain.last().map(|h| h.work) {
            if !self.peers.values().any(|s| s.claimed >= work) {
                for hash in self.chain.clear() {
                    self.forget_block(&hash);
                }
            }
        }
        if self.header_request.is_some_and(|r| r.peer == peer) {
            self.header_request = None;
        }
        if self.more_from == Some(peer) {
            self.more_from = None;
        }
    }

    /// `peer` sent a block we could not place, or announced something new: it may have
    /// a chain we lack, so ask it for headers.
    pub fn hint(&mut self, peer: ConnId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.hinted = true;
            state.exhausted = false;
        }
    }

    /// Whether a header request to `peer` is outstanding.
    pub fn awaits_headers_from(&self, peer: ConnId) -> bool {
        self.header_request.is_some_and(|r| r.peer == peer)
    }

    /// Whether `hash` is a pending header (its block will be fetched by sync).
    pub fn is_pending(&self, hash: &BlockHash) -> bool {
        self.chain.get(hash).is_some()
    }

    /// Whether `hash` was handed to the chain by sync and awaits its verdict.
    pub fn is_submitted(&self, hash: &BlockHash) -> bool {
        self.submitted.contains_key(hash)
    }

    /// Whether we are behind: headers are pending or being asked for.
    pub fn is_syncing(&self) -> bool {
        !self.chain.is_empty() || self.header_request.is_some()
    }

    /// Takes a header answer from `peer` (the caller checked it was asked for).
    pub fn on_headers(
        &mut self,
        peer: ConnId,
        headers: &[Header],
        stored: Option<&StoredParent>,
        params: &ConsensusParams,
        our_work: Work,
        now: Timestamp,
    ) -> Result<(), SyncError> {
        self.header_request = None;
        let asked_after = std::mem::take(&mut self.header_locator);
        let extension = match self.chain.extend(headers, stored, params, now) {
            // Headers after a block we named in our own request, which we no longer
            // hold (our pending chain was dropped while the answer was on its way): a
            // stale answer, not the peer's fault. Sync asks again at its next drive.
            Err(HeaderChainError::Detached)
                if headers
                    .first()
                    .is_some_and(|first| asked_after.contains(&first.parent)) =>
            {
                return Ok(());
            }
            other => other?,
        };
        for hash in &extension.dropped {
            self.forget_block(hash);
        }
        // A full answer means the peer has more, even if we kept fewer (at the pending
        // bound): it is asked again once the bodies catch up.
        let full = headers.len() == super::message::MAX_HEADERS_PER_MESSAGE;
        let chain_work = self.chain.last().map(|h| h.work);
        if let Some(state) = self.peers.get_mut(&peer) {
            if let Some(last) = headers.last() {
                state.best_height = state.best_height.max(last.height);
            }
            if let Some(work) = chain_work {
                state.claimed = state.claimed.max(work);
            }
            state.exhausted = !full;
        }
        self.more_from = full.then_some(peer);
        // A complete answer that shows less work than the peer claimed (its hello, or
        // what it showed before): it claims a chain it does not serve.
        let shown = chain_work.unwrap_or(our_work).max(our_work);
        if !full && self.peers.get(&peer).is_some_and(|s| s.claimed > shown) {
            self.unserved.push(peer);
        }
        let worth_it = chain_work.is_some_and(|work| work > our_work);
        let proven_or_small = worth_it || self.chain.len() < MAX_UNPROVEN_HEADERS;
        if (!full && !worth_it) || !proven_or_small {
            // Nothing here beats our chain (perhaps we moved on meanwhile).
            for hash in self.chain.clear() {
                self.forget_block(&hash);
            }
        }
        Ok(())
    }

    /// Takes a block from `peer` if sync asked for it or wants it. Gives the block back if
    /// sync has nothing to do with it, so relay can judge it. `body_matches` says whether
    /// its transactions match its header's Merkle root (the connection task checked, on
    /// the blocking pool, so the sync task never hashes a whole block).
    pub fn on_block(
        &mut self,
        peer: ConnId,
        block: Block,
        body_matches: bool,
    ) -> Result<BlockFate, SyncError> {
        let hash = block.hash();
        let asked = match self.requested.get_mut(&(peer, hash)) {
            Some(outstanding) if *outstanding > 1 => {
                *outstanding -= 1;
                true
            }
            Some(_) => self.requested.pop(&(peer, hash)).is_some(),
            None => false,
        };
        let wanted = self.chain.get(&hash).is_some()
            && !self.downloaded.contains_key(&hash)
            && !self.submitted.contains_key(&hash);
        if !wanted {
            // A late answer (someone else delivered first, or the chain moved on) is
            // dropped without blame.
            return Ok(if asked {
                BlockFate::AnsweredSync
            } else {
                BlockFate::ForRelay(block)
            });
        }
        // The hash covers the header, so only the body can differ from what we expect.
        if !body_matches {
            return Err(SyncError::BodyMismatch(hash));
        }
        if let Some(request) = self.in_flight.remove(&hash) {
            if let Some(state) = self.peers.get_mut(&request.peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
        }
        if let Some(state) = self.peers.get_mut(&peer) {
            state.stalls = 0;
            state.progressed = true;
            state.allowance = (state.allowance + 1).min(MAX_ALLOWANCE);
            state.best_height = state.best_height.max(block.header.height);
        }
        self.failed_from.remove(&hash);
        self.downloaded.insert(hash, (peer, block));
        Ok(if asked {
            BlockFate::AnsweredSync
        } else {
            BlockFate::TakenUnasked
        })
    }

    /// `peer` does not have these blocks: ask someone else.
    pub fn on_not_found(&mut self, peer: ConnId, hashes: &[BlockHash]) {
        for hash in hashes {
            if self.in_flight.get(hash).is_some_and(|r| r.peer == peer) {
                self.in_flight.remove(hash);
                self.failed_from.insert(*hash, peer);
                if let Some(state) = self.peers.get_mut(&peer) {
                    state.in_flight = state.in_flight.saturating_sub(1);
                }
            }
        }
    }

    /// The chain's verdict on a block sync submitted (or the chain's own failure to
    /// judge it). A stored block (connected, on a side branch, or waiting for its parent)
    /// moves sync on. Otherwise the rest of that header chain is dropped, and the peer that
    /// sent the block is returned, to ban, if the block broke a rule. A block not valid yet
    /// (its timestamp ahead of our clock) or a chain that failed blames nobody: sync starts
    /// over later.
    pub fn on_verdict(
        &mut self,
        hash: &BlockHash,
        verdict: &Result<Verdict, ChainError>,
    ) -> Option<ConnId> {
        let (sender, txs) = self.submitted.remove(hash)?;
        if let Ok(Verdict::Accepted | Verdict::AlreadyKnown | Verdict::Orphaned) = verdict {
            self.progress.connected(txs);
            self.chain.connected(hash);
            return None;
        }
        for dropped in self.chain.clear() {
            self.forget_block(&dropped);
        }
        self.submitted.clear();
        match verdict {
            Ok(Verdict::Rejected(Rejection::NotYetValid { .. })) | Err(_) => None,
            _ => Some(sender),
        }
    }

    /// Puts a block back that the chain actor could not take yet (its queue was full).
    pub fn unsubmit(&mut self, peer: ConnId, block: Block) {
        let hash = block.hash();
        if self.submitted.remove(&hash).is_some() {
            self.downloaded.insert(hash, (peer, block));
        }
    }

    fn forget_block(&mut self, hash: &BlockHash) {
        if let Some(request) = self.in_flight.remove(hash) {
            if let Some(state) = self.peers.get_mut(&request.peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
        }
        self.downloaded.remove(hash);
        self.failed_from.remove(hash);
    }

    /// Expires late requests and decides what to ask and submit next. `locator` is our
    /// canonical chain's locator (see [`super::headers::locator`]), kept up to date off
    /// the sync task.
    pub fn drive(&mut self, now: Instant, tip: &TipInfo, locator: &[BlockHash]) -> Actions {
        let drop = self.expire(now);
        let mut actions = Actions {
            headers: self.next_header_request(now, tip, locator),
            drop,
            ..Actions::default()
        };
        actions.blocks = self.next_block_requests(now, tip.cumulative_work);
        actions.submit = self.next_submissions();
        self.progress.sample(now);
        actions
    }

    /// Ends late requests; returns the peers that have now stalled too often.
    ///
    /// A request's deadline runs from when it was sent, or from the peer's last delivery
    /// if that came later: a peer asked for 16 blocks sends them one after another, and
    /// on a slow link the last may be due long after the first. And all the requests of a
    /// peer that are late at one look count as one stall: 16 blocks late together are
    /// one slow link, not 16 stalls, or a peer behind a slow link would be dropped before
    /// its first block arrived, and the next one too, for ever.
    fn expire(&mut self, now: Instant) -> Vec<ConnId> {
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
        for (hash, peer) in late {
            self.in_flight.remove(&hash);
            self.failed_from.insert(hash, peer);
            if let Some(state) = self.peers.get_mut(&peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
                if stalled.insert(peer) {
                    state.allowance = (state.allowance / 2).max(1);
                    state.stalls = state.stalls.saturating_add(1);
                }
            }
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

    fn next_header_request(
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
        self.header_locator.clone_from(&locator);
        Some((source, locator))
    }

    /// Block requests for the pending headers, once their chain has more work than
    /// `our_work`: a chain that does not, however long, costs its headers but never a
    /// block.
    fn next_block_requests(
        &mut self,
        now: Instant,
        our_work: Work,
    ) -> Vec<(ConnId, Vec<BlockHash>)> {
        if self.chain.last().is_none_or(|last| last.work <= our_work) {
            return Vec::new();
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
            return Vec::new();
        }
        // The peers with the most work, up to the configured number.
        let mut helpers: Vec<(ConnId, Work)> =
            self.peers.iter().map(|(p, s)| (*p, s.claimed)).collect();
        helpers.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        helpers.truncate(self.config.max_peers);
        let mut batches: HashMap<ConnId, Vec<BlockHash>> = HashMap::new();
        for (hash, height) in wanted {
            let avoid = self.failed_from.get(&hash).copied();
            let pick = helpers
                .iter()
                .filter_map(|(peer, _)| {
                    let state = self.peers.get(peer)?;
                    let free = state.allowance.saturating_sub(state.in_flight);
                    (free > 0 && state.best_height >= height).then_some((*peer, free))
                })
                // Most free allowance first; the peer that just failed this block last.
                .max_by_key(|(peer, free)| (Some(*peer) != avoid, *free));
            let Some((peer, _)) = pick else {
                continue;
            };
            if let Some(state) = self.peers.get_mut(&peer) {
                state.in_flight += 1;
            }
            let outstanding = self.requested.get_or_insert_mut((peer, hash), || 0);
            *outstanding = outstanding.saturating_add(1);
            self.in_flight.insert(
                hash,
                Request {
                    peer,
                    deadline: now + self.config.request_timeout,
                },
            );
            batches.entry(peer).or_default().push(hash);
        }
        let mut batches: Vec<(ConnId, Vec<BlockHash>)> = batches.into_iter().collect();
        batches.sort_by_key(|(peer, _)| *peer);
        batches
    }

    fn next_submissions(&mut self) -> Vec<(ConnId, Block)> {
        let mut ready = Vec::new();
        let mut outstanding = self.submitted.len();
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
                self.submitted
                    .insert(hash, (peer, block.transactions.len()));
                ready.push((peer, block));
            }
        }
        ready
    }

    fn target_height(&self, tip: &TipInfo) -> Height {
        let peers = self.peers.values().map(|s| s.best_height);
        let headers = self.chain.last().map(|h| h.header.height);
        peers.chain(headers).fold(tip.height(), std::cmp::Ord::max)
    }

    /// Whether a connected peer claims more work than `tip`: a better chain is known,
    /// so the node is behind whatever its download state (it syncs from that peer, or
    /// drops it for not serving the chain it claims).
    pub fn knows_better_chain(&self, tip: &TipInfo) -> bool {
        self.peers.values().any(|s| s.claimed > tip.cumulative_work)
    }

    /// Where sync stands, for logs and RPC. A node that knows of a better chain is
    /// syncing, never synced.
    pub fn status(&self, tip: &TipInfo) -> SyncStatus {
        let peers_used = self.peers.values().filter(|s| s.in_flight > 0).count();
        self.progress.status(
            self.is_syncing() || self.knows_better_chain(tip),
            tip.height(),
            self.target_height(tip),
            peers_used,
        )
    }
}
