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
//!    as a compact block, and a new tip is announced to every peer that does not know it
//!    (see [`announced`]). The three peers that last delivered a new block first push
//!    new blocks to us as compact blocks, unasked (see [`high_bandwidth`]).
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
//! and handed in. Its parts, one file each: the peers and the drive (here), headers first
//! (`headers_first.rs`, over `header_chain.rs`), the body requests and verdicts
//! (`bodies.rs`), announced blocks and the known sets (`announced.rs`), the peers that
//! push compact blocks (`high_bandwidth.rs`), the snapshot
//! (`snapshot/`, its steps in `snapshot_steps.rs`), progress (`progress.rs`), and the
//! worker that hands blocks to the chain (`submission.rs`).

mod announced;
#[cfg(test)]
mod announced_tests;
mod bodies;
mod header_chain;
mod headers_first;
pub mod high_bandwidth;
#[cfg(test)]
mod high_bandwidth_tests;
mod progress;
mod snapshot;
mod snapshot_steps;
#[cfg(test)]
mod snapshot_tests;
mod submission;
mod task;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tern_chain::block::Block;
use tern_chain::types::{BlockHash, Height, Work};
use tern_state::chain::TipInfo;

pub use announced::{
    AWAITED_BLOCKS, KNOWN_BLOCKS_PER_PEER, MAX_ANNOUNCED_IN_FLIGHT, MAX_ANNOUNCERS, REJECTED_BLOCKS,
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

use super::ConnId;
use crate::asked::AskLog;
use crate::message::InvItem;
use announced::{BlockSet, KnownBlocks, Source};
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
    /// One block's body, whole.
    Block(BlockHash),
    /// One block as a compact block. Kept apart from a whole block's ask: a compact
    /// block pushed unasked must not be taken for the answer to a request for the whole
    /// block, whose answer would then look unsolicited.
    Compact(BlockHash),
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
    /// It asked us to push new blocks as compact blocks (see [`high_bandwidth`]).
    wants_push: bool,
    /// When blocks were pushed to it in the last second.
    recent_pushes: VecDeque<Instant>,
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
    /// `GetData` for these blocks, per peer: the pending headers' whole, announced ones
    /// compact.
    pub blocks: Vec<(ConnId, Vec<InvItem>)>,
    /// Blocks to hand to the chain actor, in order.
    pub submit: Vec<Block>,
    /// Peers to disconnect: they stalled [`MAX_STALLS`] times in a row, or claimed more
    /// work than their headers show. Not banned: an overloaded honest peer, or one that
    /// lost a reorg race, looks the same.
    pub drop: Vec<ConnId>,
    /// What a snapshot sync asks for.
    pub snapshot: SnapshotActions,
    /// `SendCompact` to these peers: push new blocks to us (true), or announce them.
    pub send_compact: Vec<(ConnId, bool)>,
    /// Blocks among `submit` that a peer announced or pushed: new blocks, which the node
    /// may push on to the peers that asked for it before the chain has validated them,
    /// once their header checks (see [`high_bandwidth`]).
    pub relay_first: Vec<BlockHash>,
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
    ready: VecDeque<(ConnId, Block, Source)>,
    /// Block requests made since the last drive, which sends them.
    to_request: Vec<(ConnId, BlockHash)>,
    /// Blocks among those requests to ask for whole although announced: short ids could
    /// not rebuild them.
    whole_wanted: HashSet<BlockHash>,
    /// The peers asked to push new blocks, least recent first (see [`high_bandwidth`]).
    high_bandwidth: VecDeque<ConnId>,
    /// `SendCompact` messages to send at the next drive.
    to_send_compact: Vec<(ConnId, bool)>,
    /// Blocks the chain refused: announcements of them are ignored.
    rejected: BlockSet,
    /// Announced blocks nobody delivered in time: a late answer is still taken.
    awaited: BlockSet,
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
            whole_wanted: HashSet::new(),
            high_bandwidth: VecDeque::new(),
            to_send_compact: Vec::new(),
            rejected: BlockSet::new(REJECTED_BLOCKS),
            awaited: BlockSet::new(AWAITED_BLOCKS),
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
                wants_push: false,
                recent_pushes: VecDeque::new(),
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
            self.announced_request_ended(hash, now, None);
        }
        self.to_request.retain(|(p, _)| *p != peer);
        self.high_bandwidth.retain(|p| *p != peer);
        self.to_send_compact.retain(|(p, _)| *p != peer);
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
    pub(super) fn hint(&mut self, peer: ConnId) {
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
            actions.relay_first = actions
                .submit
                .iter()
                .map(Block::hash)
                .filter(|hash| {
                    self.submitted
                        .get(hash)
                        .is_some_and(|s| s.source != Source::Headers)
                })
                .collect();
        }
        actions.blocks = self.take_requests();
        actions.send_compact = std::mem::take(&mut self.to_send_compact);
        self.progress.sample(now);
        actions
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
