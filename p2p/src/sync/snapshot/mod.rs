//! Snapshot sync: a new node takes the state at a recent block from its peers, a chunk
//! at a time, instead of replaying every block since genesis.
//!
//! 1. **Headers.** As in a full sync, every header is checked before anything else.
//!    Once the header chain is complete (no peer shows more), the *pivot* is the header
//!    [`SyncConfig::pivot_depth`](super::SyncConfig) below its end: deep enough that no
//!    reorg reaches it (a store restored from it cannot go below it), shallow enough that
//!    peers keep its state ([`KEPT_TREE_VERSIONS`] blocks) for the whole download. A
//!    chain too short for one is synced in full.
//! 2. **State.** The chain is asked to begin restoring the pivot's state, and hands back
//!    the subtrees to fetch (the whole map, or what a restart had left). Each is asked of
//!    a peer whose chain reaches the pivot; each peer has an allowance of chunks in flight
//!    that grows with every delivery and halves when a request times out, as block
//!    download's does, and at most [`MAX_CHUNKS_IN_FLIGHT`] are in flight or waiting in
//!    all. A chunk goes to the chain, which checks it against the hash its subtree must
//!    have before it writes anything; a split's subtrees are fetched in turn. A chunk that
//!    does not check gets its sender banned and is asked of another peer; "busy" rests
//!    the peer a moment, and a peer that does not keep the pivot is not asked again.
//! 3. **Blocks.** With every piece written, the chain makes the pivot its tip (with the
//!    headers below it, and no bodies), and sync fetches the blocks after it as a full
//!    sync would.
//!
//! Sans-IO like the rest of sync: [`Snapshot`] decides, the sync task sends and hands
//! chunks to the chain.

mod pivot;
mod progress;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use tern_chain::block::Header;
use tern_chain::state_map::chunk::{Chunk, KeyPrefix};
use tern_chain::types::{BlockHash, Height};
use tern_state::chain::{Restored, SnapshotError, SnapshotProgress, KEPT_TREE_VERSIONS};

use crate::asked::{Answer, AskLog};
use crate::message::ChunkAnswer;
use crate::sync::header_chain::HeaderChain;
use crate::ConnId;
use pivot::Pivot;
use progress::Counters;

pub use progress::StateProgress;

/// How a node with an empty store joins: `full` or `snapshot` in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Replay every block since genesis.
    #[default]
    Full,
    /// Take the state at a recent block from peers, then replay the blocks after it.
    Snapshot,
}

/// A sync mode that is neither `full` nor `snapshot`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync mode {0:?} is neither \"full\" nor \"snapshot\"")]
pub struct UnknownSyncMode(pub String);

impl std::str::FromStr for SyncMode {
    type Err = UnknownSyncMode;

    /// `full` or `snapshot`, as the flags and the config file write it.
    fn from_str(text: &str) -> Result<SyncMode, UnknownSyncMode> {
        match text {
            "full" => Ok(SyncMode::Full),
            "snapshot" => Ok(SyncMode::Snapshot),
            other => Err(UnknownSyncMode(other.to_owned())),
        }
    }
}

/// The pivot's depth below the best header, unless configured otherwise: 64 blocks. A
/// reorg that deep would take a chain with more work than the last 64 blocks' from a
/// miner working apart all that time; and 64 leaves peers 960 more blocks
/// ([`KEPT_TREE_VERSIONS`]) during which they still serve the pivot's state.
pub const DEFAULT_PIVOT_DEPTH: u64 = 64;

/// Chunks in flight or downloaded and not yet written, across all peers: what a snapshot
/// sync holds in memory at most, about 12.6 MB at [`MAX_CHUNK_ACCOUNTS`] accounts each,
/// whatever the size of the state.
pub const MAX_CHUNKS_IN_FLIGHT: usize = 64;

/// Chunks handed to the chain and not yet written, at most.
pub const MAX_RESTORING: usize = 8;

/// Chunks a peer may have in flight to start with...
pub const INITIAL_CHUNK_ALLOWANCE: usize = 4;
/// ...and at most, after many deliveries.
pub const MAX_CHUNK_ALLOWANCE: usize = 16;

/// How long a peer that answered "busy" is left alone.
pub const BUSY_REST: Duration = Duration::from_secs(1);

/// Rounds of timed-out chunk requests in a row after which a peer is dropped. Not banned:
/// an overloaded peer looks the same.
pub const MAX_CHUNK_STALLS: u32 = 3;

/// Chunk requests remembered per peer, past their deadline, so a late answer is an
/// answer: a peer has at most [`MAX_CHUNK_ALLOWANCE`] in flight per request timeout.
const REMEMBERED_CHUNK_REQUESTS: usize = 4_096;

/// Where a snapshot sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotPhase {
    /// Not syncing by snapshot: full sync, a store that had blocks already, or done.
    Off,
    /// Fetching headers, to choose the pivot once they are complete.
    Headers,
    /// Fetching and writing the pivot's state.
    State,
}

/// What the snapshot wants the sync task to do.
#[derive(Debug, Default)]
pub struct SnapshotActions {
    /// Ask the chain to begin restoring the state after this pivot.
    pub begin: Option<Header>,
    /// `GetStateChunk` to these peers.
    pub requests: Vec<(ConnId, BlockHash, KeyPrefix)>,
    /// Chunks to hand to the chain, with the peer that sent each.
    pub restore: Vec<(ConnId, KeyPrefix, Chunk)>,
    /// Every piece is in: ask the chain to finish with these headers.
    pub finish: Option<Vec<Header>>,
    /// No peer serves the pivot any more: undo what was restored of it (before
    /// beginning the newer pivot in `begin`).
    pub abandon: bool,
    /// Peers to disconnect: their chunk requests stalled too often.
    pub drop: Vec<ConnId>,
}

#[derive(Debug)]
struct ChunkPeer {
    best_height: Height,
    allowance: usize,
    in_flight: usize,
    stalls: u32,
    progressed: bool,
    /// It answered "busy": not asked again before this.
    rest_until: Option<Instant>,
    /// It does not keep the pivot's state: not asked again.
    not_serving: bool,
}

#[derive(Debug, Clone, Copy)]
struct Request {
    peer: ConnId,
    deadline: Instant,
}

#[derive(Debug)]
enum Phase {
    Off,
    /// Waiting for complete headers; a restart goes on with `resume`.
    Choosing {
        resume: Option<BlockHash>,
    },
    /// The chain was asked to begin.
    Beginning,
    Fetching,
    /// The chain was asked to finish.
    Finishing,
}

/// A snapshot sync's state.
#[derive(Debug)]
pub struct Snapshot {
    phase: Phase,
    pivot_depth: u64,
    request_timeout: Duration,
    pivot: Option<Pivot>,
    /// Subtrees to fetch, with the accounts the split that named them claims.
    wanted: BTreeMap<KeyPrefix, u64>,
    in_flight: HashMap<KeyPrefix, Request>,
    /// The last peer that failed to deliver each, to try another first.
    failed_from: HashMap<KeyPrefix, ConnId>,
    /// Downloaded, waiting for room at the chain.
    ready: VecDeque<(ConnId, KeyPrefix, Chunk)>,
    /// Handed to the chain, result pending.
    restoring: HashSet<KeyPrefix>,
    peers: HashMap<ConnId, ChunkPeer>,
    asked: AskLog<KeyPrefix>,
    progress: Counters,
    /// A "no peer serves the pivot" warning was logged.
    warned_unserved: bool,
}

impl Snapshot {
    /// The snapshot sync of a node in `mode`.
    pub fn new(mode: SyncMode, pivot_depth: u64, request_timeout: Duration) -> Snapshot {
        Snapshot {
            phase: match mode {
                SyncMode::Full => Phase::Off,
                SyncMode::Snapshot => Phase::Choosing { resume: None },
            },
            pivot_depth: pivot_depth.clamp(1, KEPT_TREE_VERSIONS / 2),
            request_timeout,
            pivot: None,
            wanted: BTreeMap::new(),
            in_flight: HashMap::new(),
            failed_from: HashMap::new(),
            ready: VecDeque::new(),
            restoring: HashSet::new(),
            peers: HashMap::new(),
            asked: AskLog::new(REMEMBERED_CHUNK_REQUESTS),
            progress: Counters::default(),
            warned_unserved: false,
        }
    }

    /// Settles the mode against the store at start: a store that has blocks past
    /// genesis syncs in full from its tip; one that was restoring a snapshot goes on with
    /// that snapshot's pivot.
    pub fn start(&mut self, tip_height: Height, restoring: Option<&SnapshotProgress>) {
        if let Some(progress) = restoring {
            tracing::info!(pivot = %progress.pivot, pieces = progress.pieces, accounts = progress.accounts, "going on with the snapshot a restart interrupted");
            self.phase = Phase::Choosing {
                resume: Some(progress.pivot),
            };
            self.progress.chunks = progress.pieces as u64;
            self.progress.accounts = progress.accounts;
            return;
        }
        if matches!(self.phase, Phase::Choosing { .. }) && tip_height > Height::GENESIS {
            tracing::info!(
                height = tip_height.value(),
                "the store has blocks already: syncing in full from its tip, not by snapshot"
            );
            self.phase = Phase::Off;
        }
    }

    /// The phase, for status reports.
    pub fn phase(&self) -> SnapshotPhase {
        match self.phase {
            Phase::Off => SnapshotPhase::Off,
            Phase::Choosing { .. } => SnapshotPhase::Headers,
            Phase::Beginning | Phase::Fetching | Phase::Finishing => SnapshotPhase::State,
        }
    }

    /// Whether blocks must wait: the state they apply to is not in yet.
    pub fn holds_blocks(&self) -> bool {
        !matches!(self.phase, Phase::Off)
    }

    /// A new peer, whose chain reaches `best_height`.
    pub fn add_peer(&mut self, peer: ConnId, best_height: Height) {
        self.peers.insert(
            peer,
            ChunkPeer {
                best_height,
                allowance: INITIAL_CHUNK_ALLOWANCE,
                in_flight: 0,
                stalls: 0,
                progressed: false,
                rest_until: None,
                not_serving: false,
            },
        );
    }

    /// A peer showed a chain reaching `height`.
    pub fn raise_best(&mut self, peer: ConnId, height: Height) {
        if let Some(state) = self.peers.get_mut(&peer) {
            state.best_height = state.best_height.max(height);
        }
    }

    /// A peer left: what it was fetching is wanted again.
    pub fn remove_peer(&mut self, peer: ConnId) {
        self.peers.remove(&peer);
        self.asked.remove_peer(peer);
        let lost: Vec<KeyPrefix> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.peer == peer)
            .map(|(prefix, _)| prefix.clone())
            .collect();
        for prefix in lost {
            self.in_flight.remove(&prefix);
            self.wanted.entry(prefix).or_insert(0);
        }
    }

    /// The chain began (or went on with) the pivot's state: fetch what it still lacks.
    pub fn begun(&mut self, result: Result<SnapshotProgress, SnapshotError>) {
        if !matches!(self.phase, Phase::Beginning) {
            return;
        }
        match result {
            Ok(progress) => {
                tracing::info!(
                    pivot = %progress.pivot,
                    height = self.pivot.as_ref().map_or(0, |p| p.header.height.value()),
                    wanted = progress.wanted.len(),
                    "fetching the state at the pivot from peers"
                );
                self.wanted = progress.wanted.into_iter().collect();
                self.phase = Phase::Fetching;
            }
            Err(SnapshotError::NotFresh(height)) => {
                tracing::info!(
                    height = height.value(),
                    "the store has blocks already: syncing in full from its tip"
                );
                self.phase = Phase::Off;
            }
            Err(SnapshotError::OtherPivot(pivot)) => {
                tracing::error!(
                    %pivot,
                    "the store is restoring the snapshot of a block the peers' chain no \
                     longer leads through; waiting for it (delete the data directory to \
                     start over)"
                );
                self.phase = Phase::Choosing {
                    resume: Some(pivot),
                };
            }
            Err(error) => {
                tracing::error!(%error, "the chain could not begin the snapshot; trying again");
                self.phase = Phase::Choosing { resume: None };
            }
        }
    }

    /// A peer's answer to a chunk request. Returns whether it answered one of ours (an
    /// answer nobody asked for is ignored).
    pub fn on_chunk(
        &mut self,
        now: Instant,
        peer: ConnId,
        pivot: BlockHash,
        prefix: KeyPrefix,
        answer: ChunkAnswer,
        bytes: usize,
    ) -> bool {
        if self.asked.answer(peer, &prefix) == Answer::Unasked
            || self.pivot.as_ref().is_none_or(|p| p.hash != pivot)
        {
            return false;
        }
        let ours = self.in_flight.get(&prefix).is_some_and(|r| r.peer == peer);
        if ours {
            self.in_flight.remove(&prefix);
        }
        let Some(state) = self.peers.get_mut(&peer) else {
            return true;
        };
        if ours {
            state.in_flight = state.in_flight.saturating_sub(1);
        }
        match answer {
            ChunkAnswer::Chunk(chunk) => {
                state.stalls = 0;
                state.progressed = true;
                state.allowance = (state.allowance + 1).min(MAX_CHUNK_ALLOWANCE);
                self.progress.bytes = self.progress.bytes.saturating_add(bytes as u64);
                // Late copies of a chunk another peer delivered are dropped.
                let still_wanted = ours || self.wanted.contains_key(&prefix);
                if still_wanted
                    && !self.restoring.contains(&prefix)
                    && !self.ready.iter().any(|(_, p, _)| *p == prefix)
                {
                    self.wanted.remove(&prefix);
                    self.failed_from.remove(&prefix);
                    self.ready.push_back((peer, prefix, chunk));
                }
            }
            ChunkAnswer::Busy => {
                state.rest_until = Some(now + BUSY_REST);
                self.rewant(prefix, peer, ours);
            }
            ChunkAnswer::UnknownPivot | ChunkAnswer::PivotPruned => {
                state.not_serving = true;
                self.rewant(prefix, peer, ours);
            }
        }
        true
    }

    fn rewant(&mut self, prefix: KeyPrefix, peer: ConnId, ours: bool) {
        if ours {
            self.failed_from.insert(prefix.clone(), peer);
            self.wanted.entry(prefix).or_insert(0);
        }
    }

    /// The chain's result for a chunk `peer` sent. Returns the peer to ban if the chunk
    /// was a lie.
    pub fn restored(
        &mut self,
        peer: ConnId,
        prefix: KeyPrefix,
        result: Result<Restored, SnapshotError>,
    ) -> Option<SnapshotError> {
        // A result for the pivot given up (the chain wrote it before undoing it): the
        // newer pivot's fetching has not begun yet.
        if !matches!(self.phase, Phase::Fetching) {
            return None;
        }
        self.restoring.remove(&prefix);
        match result {
            Ok(restored) => {
                if !restored.duplicate {
                    self.progress.chunks = self.progress.chunks.saturating_add(1);
                    self.progress.accounts =
                        self.progress.accounts.saturating_add(restored.accounts);
                }
                for (below, claimed) in restored.wanted {
                    self.wanted.insert(below, claimed);
                }
                None
            }
            Err(error @ SnapshotError::Invalid { .. }) => {
                self.failed_from.insert(prefix.clone(), peer);
                self.wanted.insert(prefix, 0);
                Some(error)
            }
            Err(error) => {
                tracing::error!(%error, %prefix, "the chain could not write a state chunk; asking again");
                self.wanted.entry(prefix).or_insert(0);
                None
            }
        }
    }

    /// The chain finished the snapshot (or could not). Returns the pivot once done: its
    /// headers are the chain's now.
    pub fn finished(&mut self, result: Result<Height, SnapshotError>) -> Option<BlockHash> {
        if !matches!(self.phase, Phase::Finishing) {
            return None;
        }
        match result {
            Ok(height) => {
                tracing::info!(
                    height = height.value(),
                    accounts = self.progress.accounts,
                    chunks = self.progress.chunks,
                    "the state at the pivot is in; fetching the blocks after it"
                );
                self.phase = Phase::Off;
                self.pivot.take().map(|pivot| pivot.hash)
            }
            Err(error) => {
                tracing::error!(%error, "the chain could not finish the snapshot; trying again");
                self.phase = Phase::Fetching;
                None
            }
        }
    }

    /// What to do next. `headers` is sync's header chain, `complete` whether no peer has
    /// shown more headers than it holds.
    pub fn drive(
        &mut self,
        now: Instant,
        headers: &HeaderChain,
        complete: bool,
    ) -> SnapshotActions {
        let mut actions = SnapshotActions::default();
        match &self.phase {
            Phase::Choosing { resume } => {
                let resume = *resume;
                if let Some(pivot) = self.choose_pivot(headers, complete, resume) {
                    actions.begin = Some(pivot);
                }
            }
            Phase::Fetching => {
                if let Some(newer) = self.move_pivot(headers) {
                    actions.abandon = true;
                    actions.begin = Some(newer);
                    self.sample(now);
                    return actions;
                }
                actions.drop = self.expire(now);
                actions.requests = self.next_requests(now);
                while self.restoring.len() < MAX_RESTORING {
                    let Some((peer, prefix, chunk)) = self.ready.pop_front() else {
                        break;
                    };
                    self.restoring.insert(prefix.clone());
                    actions.restore.push((peer, prefix, chunk));
                }
                let done = self.wanted.is_empty()
                    && self.in_flight.is_empty()
                    && self.ready.is_empty()
                    && self.restoring.is_empty();
                if done {
                    if let Some(pivot) = &self.pivot {
                        actions.finish = Some(pivot.headers.clone());
                        self.phase = Phase::Finishing;
                    }
                }
            }
            Phase::Off | Phase::Beginning | Phase::Finishing => {}
        }
        self.sample(now);
        actions
    }

    /// Ends late requests; returns peers that stalled too often.
    fn expire(&mut self, now: Instant) -> Vec<ConnId> {
        let renewed = now + self.request_timeout;
        for request in self.in_flight.values_mut() {
            if self.peers.get(&request.peer).is_some_and(|s| s.progressed) {
                request.deadline = request.deadline.max(renewed);
            }
        }
        for state in self.peers.values_mut() {
            state.progressed = false;
        }
        let late: Vec<(KeyPrefix, ConnId)> = self
            .in_flight
            .iter()
            .filter(|(_, r)| r.deadline <= now)
            .map(|(prefix, r)| (prefix.clone(), r.peer))
            .collect();
        let mut stalled = HashSet::new();
        for (prefix, peer) in late {
            self.in_flight.remove(&prefix);
            self.failed_from.insert(prefix.clone(), peer);
            self.wanted.entry(prefix).or_insert(0);
            if let Some(state) = self.peers.get_mut(&peer) {
                state.in_flight = state.in_flight.saturating_sub(1);
                if stalled.insert(peer) {
                    state.allowance = (state.allowance / 2).max(1);
                    state.stalls = state.stalls.saturating_add(1);
                }
            }
        }
        self.peers
            .iter()
            .filter(|(_, s)| s.stalls >= MAX_CHUNK_STALLS)
            .map(|(peer, _)| *peer)
            .collect()
    }

    fn next_requests(&mut self, now: Instant) -> Vec<(ConnId, BlockHash, KeyPrefix)> {
        let Some(pivot) = &self.pivot else {
            return Vec::new();
        };
        let (hash, height) = (pivot.hash, pivot.header.height);
        let mut room = MAX_CHUNKS_IN_FLIGHT
            .saturating_sub(self.in_flight.len() + self.ready.len() + self.restoring.len());
        let serving = self
            .peers
            .values()
            .filter(|s| s.best_height >= height && !s.not_serving)
            .count();
        if serving == 0 && !self.peers.is_empty() && !self.warned_unserved {
            self.warned_unserved = true;
            tracing::warn!(pivot = %hash, "no connected peer serves the pivot's state; waiting for one");
        }
        let mut requests = Vec::new();
        let wanted: Vec<KeyPrefix> = self.wanted.keys().cloned().collect();
        for prefix in wanted {
            if room == 0 {
                break;
            }
            let avoid = self.failed_from.get(&prefix).copied();
            let pick = self
                .peers
                .iter()
                .filter_map(|(peer, s)| {
                    let free = s.allowance.saturating_sub(s.in_flight);
                    let resting = s.rest_until.is_some_and(|until| until > now);
                    let eligible =
                        free > 0 && !resting && !s.not_serving && s.best_height >= height;
                    eligible.then_some((*peer, free))
                })
                .max_by_key(|(peer, free)| (Some(*peer) != avoid, *free, std::cmp::Reverse(*peer)));
            let Some((peer, _)) = pick else {
                break;
            };
            if let Some(state) = self.peers.get_mut(&peer) {
                state.in_flight += 1;
            }
            self.wanted.remove(&prefix);
            self.asked.ask(peer, prefix.clone());
            self.in_flight.insert(
                prefix.clone(),
                Request {
                    peer,
                    deadline: now + self.request_timeout,
                },
            );
            requests.push((peer, hash, prefix));
            room -= 1;
        }
        requests
    }
}
