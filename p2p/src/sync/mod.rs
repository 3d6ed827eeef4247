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
//! 4. **New blocks, once caught up.** A block a peer announces is fetched from it at once,
//!    and a new tip is announced to every peer that does not know it (see [`announced`]).
//!
//! Sync owns every block request, whatever made it: one record of requests in flight,
//! one allowance per peer, one worker that hands blocks to the chain. So a block is never
//! asked of two peers at once, and no answer can be mistaken for another task's.
//!
//! Every header and block request is recorded in one [`AskLog`] that outlives the
//! request's deadline: over a slow link the answer to a request that timed out or was
//! superseded still arrives, and is a rightful answer. Headers are taken as data whenever
//! they come, asked for or not (a peer may announce a chain by its headers): kept if they
//! attach, answered with a request of our own if they attach to nothing we hold (counted,
//! and the peer dropped after [`MAX_UNCONNECTING_HEADERS`] in a row, never banned), and
//! the peer banned only if a header breaks a consensus rule that no clock, link or
//! restart could explain.
//!
//! Resuming after a restart needs nothing special: the locator starts from the tip we
//! have, so nothing connected is fetched again.
//!
//! [`SyncState`] is synchronous (sans-IO); the sync task (`task.rs`) owns it, feeds it
//! what peers send and sends what [`SyncState::drive`] asks for. Nothing here reads the
//! store: the locator and a header answer's stored parent are read on the blocking pool
//! and handed in.

mod announced;
#[cfg(test)]
mod announced_tests;
mod header_chain;
mod progress;
mod snapshot;
mod snapshot_steps;
#[cfg(test)]
mod snapshot_tests;
mod submission;
mod task;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use tern_chain::block::{Block, Header};
use tern_chain::error::BlockError;
use tern_chain::genesis::ConsensusParams;
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_state::chain::{ChainError, Rejection, TipInfo, Verdict};

pub use announced::{
    KNOWN_BLOCKS_PER_PEER, MAX_ANNOUNCED_IN_FLIGHT, MAX_ANNOUNCERS, REJECTED_BLOCKS,
};
pub use header_chain::{
    HeaderChain, HeaderChainError, PendingHeader, StoredParent, MAX_PENDING_HEADERS,
};
pub use progress::{SyncPhase, SyncStatus};
pub use snapshot::{
    Snapshot, SnapshotActions, SnapshotPhase, StateProgress, SyncMode, UnknownSyncMode, BUSY_REST,
    DEFAULT_PIVOT_DEPTH, INITIAL_CHUNK_ALLOWANCE, MAX_CHUNKS_IN_FLIGHT, MAX_CHUNK_ALLOWANCE,
    MAX_CHUNK_STALLS, MAX_RESTORING,
};
pub(crate) use task::{spawn, SyncParts, SYNC_QUEUE};

use super::message::MAX_LOCATOR_HASHES;
use super::ConnId;
use crate::asked::{Answer, AskLog};
use announced::{KnownBlocks, Rejected, Source};
use progress::Progress;

/// Headers kept at most while their chain has no more work than ours.
pub const MAX_UNPROVEN_HEADERS: usize = 10_000;

/// Blocks handed to the chain actor and not yet judged.
pub const SUBMIT_AHEAD: usize = 32;

/// Requests remembered per peer, so a late answer is not taken for unsolicited data. A
/// peer has at most [`MAX_ALLOWANCE`] blocks and one header request in flight per
/// [`SyncConfig::request_timeout`], so a record outlives its request by over ten minutes,
/// far past the ping timeout that drops a peer whose answers stopped.
pub const REMEMBERED_REQUESTS: usize = 16_384;

/// Header messages in a row that attach to nothing we hold, after which a peer is
/// dropped (Bitcoin Core's `MAX_NUM_UNCONNECTING_HEADERS_MSGS`). Not banned: a stale
/// answer after a reorg looks the same.
pub const MAX_UNCONNECTING_HEADERS: u32 = 10;

/// What sync asks a peer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SyncAsk {
    /// Headers after a locator. Answers come in order on one connection, so a count per
    /// peer says which answer is to the latest request.
    Headers,
    /// One block's body.
    Block(BlockHash),
}

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
    /// The node was given peers to dial: without any it is isolated, not synced.
    pub expects_peers: bool,
    /// How a node with an empty store joins.
    pub mode: SyncMode,
    /// How far below the best header a snapshot's pivot is.
    pub pivot_depth: u64,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            max_peers: 8,
            window: 512,
            request_timeout: Duration::from_secs(10),
            expects_peers: false,
            mode: SyncMode::Full,
            pivot_depth: DEFAULT_PIVOT_DEPTH,
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
    /// Header messages in a row that attached to nothing we hold.
    unconnecting: u32,
    /// The lowest block body it serves (its hello says): nothing older is asked of it.
    lowest_body: Height,
    /// Blocks it is known to have, so none is announced to it twice.
    known: KnownBlocks,
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
    /// `GetData` for these blocks, per peer: the pending headers' and announced ones.
    pub blocks: Vec<(ConnId, Vec<BlockHash>)>,
    /// Blocks to hand to the chain actor, in order.
    pub submit: Vec<Block>,
    /// Peers to disconnect: they stalled [`MAX_STALLS`] times in a row, or claimed more
    /// work than their headers show. Not banned: an overloaded honest peer, or one that
    /// lost a reorg race, looks the same.
    pub drop: Vec<ConnId>,
    /// What a snapshot sync asks for.
    pub snapshot: SnapshotActions,
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
    /// A block nobody asked the peer for, and that sync does not want.
    #[error("block {0} was sent unasked")]
    Unsolicited(BlockHash),
}

/// A block with the chain, verdict pending.
#[derive(Debug, Clone, Copy)]
struct Submitted {
    sender: ConnId,
    txs: usize,
    source: Source,
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
    /// Handed to the chain, verdict pending.
    submitted: HashMap<BlockHash, Submitted>,
    /// Announced blocks being fetched (not among the pending headers), with the other
    /// peers that announced each, in line to be asked next (see [`announced`]).
    announcers: HashMap<BlockHash, VecDeque<ConnId>>,
    /// Announced blocks that arrived, for the chain at the next drive.
    ready: VecDeque<(ConnId, Block)>,
    /// Block requests made since the last drive, which sends them.
    to_request: Vec<(ConnId, BlockHash)>,
    /// Blocks the chain refused: announcements of them are ignored.
    rejected: Rejected,
    /// Every header and block request, past its deadline: whether an answer is ours.
    asked: AskLog<SyncAsk>,
    /// Peers whose complete header answer showed less work than they claimed, to drop.
    unserved: Vec<ConnId>,
    /// The node had a peer, or was given some to dial: without any, it is isolated.
    expects_peers: bool,
    progress: Progress,
    /// The state download of a node joining by snapshot.
    snapshot: Snapshot,
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
            announcers: HashMap::new(),
            ready: VecDeque::new(),
            to_request: Vec::new(),
            rejected: Rejected::default(),
            asked: AskLog::new(REMEMBERED_REQUESTS),
            unserved: Vec::new(),
            expects_peers: config.expects_peers,
            progress: Progress::default(),
            snapshot: Snapshot::new(config.mode, config.pivot_depth, config.request_timeout),
        }
    }

    /// The snapshot sync, for the sync task to feed.
    pub fn snapshot(&mut self) -> &mut Snapshot {
        &mut self.snapshot
    }

    /// The chain finished the snapshot with the pivot as its tip (or could not): the
    /// headers up to the pivot are the chain's now.
    pub fn snapshot_finished(&mut self, result: Result<Height, tern_state::chain::SnapshotError>) {
        if let Some(pivot) = self.snapshot.finished(result) {
            self.chain.connected(&pivot);
        }
    }

    /// A new peer, with what its hello claims.
    pub fn add_peer(&mut self, peer: ConnId, claimed: Work, best_height: Height) {
        self.expects_peers = true;
        self.snapshot.add_peer(peer, best_height);
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
                unconnecting: 0,
                lowest_body: Height::GENESIS,
                known: KnownBlocks::default(),
            },
        );
    }

    /// `peer` serves no block body below `height` (it joined by snapshot there, or
    /// pruned): older blocks are asked of others.
    pub fn set_lowest_body(&mut self, peer: ConnId, height: Height) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.lowest_body = height;
        }
    }

    /// A peer left; what it was fetching goes to others (an announced block to its next
    /// announcer now, the pending headers' blocks at the next [`SyncState::drive`]). If no
    /// peer left claims the pending chain's work, nobody can serve it: it is dropped (and
    /// asked for again from whoever shows more work later).
    pub fn remove_peer(&mut self, peer: ConnId, now: Instant) {
        self.snapshot.remove_peer(peer);
        self.peers.remove(&peer);
        self.asked.remove_peer(peer);
        let gone: Vec<BlockHash> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.peer == peer)
            .map(|(hash, _)| *hash)
            .collect();
        for hash in &gone {
            self.in_flight.remove(hash);
        }
        for line in self.announcers.values_mut() {
            line.retain(|p| *p != peer);
        }
        for hash in &gone {
            self.announced_request_ended(hash, now);
        }
        self.to_request.retain(|(p, _)| *p != peer);
        if let Some(work) = self.chain.last().map(|h| h.work) {
            if !self.peers.values().any(|s| s.claimed >= work) {
                self.clear_chain();
            }
        }
        if self.header_request.is_some_and(|r| r.peer == peer) {
            self.header_request = None;
        }
        if self.more_from == Some(peer) {
            self.more_from = None;
        }
    }

    /// `peer` sent a block we could not place, or announced more than we fetch from it at
    /// once: it may have a chain we lack, so ask it for headers.
    fn hint(&mut self, peer: ConnId) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.hinted = true;
            state.exhausted = false;
        }
    }

    /// Whether `hash` is a pending header (its block will be fetched by sync).
    pub fn is_pending(&self, hash: &BlockHash) -> bool {
        self.chain.get(hash).is_some()
    }

    /// Whether we are behind: headers are pending or being asked for.
    pub fn is_syncing(&self) -> bool {
        !self.chain.is_empty() || self.header_request.is_some()
    }

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
        let full = headers.len() == super::message::MAX_HEADERS_PER_MESSAGE;
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
    fn unconnecting(&mut self, peer: ConnId) {
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

    fn clear_chain(&mut self) {
        for hash in self.chain.clear() {
            self.forget_block(&hash);
        }
    }

    /// Takes a block from `peer`. One sync asked for (or wants: a pending header's) is
    /// kept; a late answer, which someone else answered first, is dropped without blame;
    /// any other is unsolicited. `body_matches` says whether its transactions match its
    /// header's Merkle root (the connection task checked, on the blocking pool, so the sync
    /// task never hashes a whole block).
    pub fn on_block(
        &mut self,
        peer: ConnId,
        block: Block,
        body_matches: bool,
        now: Instant,
    ) -> Result<(), SyncError> {
        let hash = block.hash();
        let asked = self.asked.answer(peer, &SyncAsk::Block(hash)) == Answer::Asked;
        let pending = self.chain.get(&hash).is_some()
            && !self.downloaded.contains_key(&hash)
            && !self.submitted.contains_key(&hash);
        // An announced block still being fetched, from this peer or (after its request
        // to this one timed out) from the next announcer: the copy in hand is taken.
        let announced = asked && self.announcers.contains_key(&hash);
        if !pending && !announced {
            return if asked {
                Ok(())
            } else {
                Err(SyncError::Unsolicited(hash))
            };
        }
        // The hash covers the header, so only the body can differ from what we expect.
        // A forged body proves nothing about the header: the block goes to the next
        // announcer, and is not remembered as refused.
        if !body_matches {
            if self.announcers.contains_key(&hash) {
                self.end_request(&hash);
                self.announced_request_ended(&hash, now);
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
    fn end_request(&mut self, hash: &BlockHash) {
        if let Some(request) = self.in_flight.remove(hash) {
            if let Some(state) = self.peers.get_mut(&request.peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
            }
        }
    }

    /// `peer` does not have these blocks: ask someone else.
    pub fn on_not_found(&mut self, peer: ConnId, hashes: &[BlockHash], now: Instant) {
        for hash in hashes {
            // "Not found" settles an ask as the block would; one we never made is ignored.
            let _ = self.asked.answer(peer, &SyncAsk::Block(*hash));
            if self.in_flight.get(hash).is_some_and(|r| r.peer == peer) {
                self.end_request(hash);
                self.failed_from.insert(*hash, peer);
                self.announced_request_ended(hash, now);
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
                self.submitted.retain(|_, s| s.source == Source::Announced);
            }
            (Source::Announced, Ok(Verdict::Accepted | Verdict::AlreadyKnown)) => {
                self.chain.connected(hash);
            }
            (Source::Announced, Ok(Verdict::Orphaned)) => self.hint(sender),
            (Source::Announced, _) => {}
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
                source: Source::Announced,
                ..
            }) => self.ready.push_front((sender, block)),
            None => {}
        }
    }

    fn forget_block(&mut self, hash: &BlockHash) {
        self.end_request(hash);
        self.announcers.remove(hash);
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
        // Headers with no more work than ours and no request out that could add to them
        // (late answers leave such chains): nothing will ever fetch their blocks.
        let unworthy = self
            .chain
            .last()
            .is_some_and(|last| last.work <= tip.cumulative_work);
        if unworthy && self.header_request.is_none() {
            self.clear_chain();
        }
        // Headers are complete when no request is out and the last answer was not full
        // (or the pending chain is at its bound).
        let complete = self.header_request.is_none()
            && (self.more_from.is_none() || self.chain.len() >= MAX_PENDING_HEADERS / 2);
        actions.snapshot = self.snapshot.drive(now, &self.chain, complete);
        actions.drop.append(&mut actions.snapshot.drop);
        if !self.snapshot.holds_blocks() {
            self.next_block_requests(now, tip.cumulative_work);
            actions.submit = self.next_submissions();
        }
        actions.blocks = self.take_requests();
        self.progress.sample(now);
        actions
    }

    /// The block requests made since the last drive, one run per peer.
    fn take_requests(&mut self) -> Vec<(ConnId, Vec<BlockHash>)> {
        let mut batches: Vec<(ConnId, Vec<BlockHash>)> = Vec::new();
        let mut requests = std::mem::take(&mut self.to_request);
        requests.sort_by_key(|(peer, _)| *peer);
        for (peer, hash) in requests {
            match batches.last_mut() {
                Some((last, hashes)) if *last == peer => hashes.push(hash),
                _ => batches.push((peer, vec![hash])),
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
        for (hash, _) in &late {
            self.announced_request_ended(hash, now);
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
        self.asked.ask(source, SyncAsk::Headers);
        self.header_locator.clone_from(&locator);
        Some((source, locator))
    }

    /// Block requests for the pending headers, once their chain has more work than
    /// `our_work`: a chain that does not, however long, costs its headers but never a
    /// block.
    fn next_block_requests(&mut self, now: Instant, our_work: Work) {
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
    fn next_submissions(&mut self) -> Vec<Block> {
        let mut ready = Vec::new();
        for (peer, block) in std::mem::take(&mut self.ready) {
            let submitted = Submitted {
                sender: peer,
                txs: block.transactions.len(),
                source: Source::Announced,
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
        let isolated = self.expects_peers && self.peers.is_empty();
        let in_snapshot = self.snapshot.holds_blocks();
        let syncing =
            !isolated && (in_snapshot || self.is_syncing() || self.knows_better_chain(tip));
        let mut status = self.progress.status(
            syncing,
            tip.height(),
            self.target_height(tip),
            peers_used,
            isolated,
        );
        status.mode = self.config.mode;
        status.phase = match (self.config.mode, self.snapshot.phase()) {
            (SyncMode::Full, _) => None,
            (SyncMode::Snapshot, SnapshotPhase::Headers) => Some(SyncPhase::Headers),
            (SyncMode::Snapshot, SnapshotPhase::State) => Some(SyncPhase::State),
            (SyncMode::Snapshot, SnapshotPhase::Off) => syncing.then_some(SyncPhase::Blocks),
        };
        status.state = self.snapshot.progress();
        status
    }
}
