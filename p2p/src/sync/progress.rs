//! Sync progress: rates over the last few seconds, an ETA, and the status RPC reports.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tern_chain::types::Height;

use super::{StateProgress, SyncMode};

/// The span rates are measured over.
const RATE_SPAN: Duration = Duration::from_secs(10);

/// Where sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SyncStatus {
    /// Whether the node is behind its peers and catching up.
    pub syncing: bool,
    /// Our tip height.
    pub current_height: Height,
    /// The best height our peers have shown.
    pub target_height: Height,
    /// Blocks connected per second, recently.
    pub blocks_per_sec: f64,
    /// Transactions connected per second, recently.
    pub txs_per_sec: f64,
    /// Seconds to reach the target at the recent rate, if moving.
    pub eta_secs: Option<u64>,
    /// Peers with blocks in flight to us.
    pub peers: usize,
    /// No peer is connected, though the node had one or was given some to dial: the
    /// chain may be moving on without it, so it is neither syncing nor synced. A node
    /// started alone (a dev chain) is never isolated.
    pub isolated: bool,
    /// How the node joins: by replaying every block, or from a snapshot.
    pub mode: SyncMode,
    /// Where a node joining by snapshot is, while it syncs.
    pub phase: Option<SyncPhase>,
    /// The state download, once a snapshot's pivot is chosen.
    pub state: Option<StateProgress>,
}

/// The phases of a snapshot sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPhase {
    /// Fetching and checking headers, to choose the pivot.
    Headers,
    /// Fetching the state at the pivot.
    State,
    /// Fetching and connecting the blocks after the pivot.
    Blocks,
}

impl SyncPhase {
    /// The name the status RPC and the log use.
    pub fn name(self) -> &'static str {
        match self {
            SyncPhase::Headers => "headers",
            SyncPhase::State => "state",
            SyncPhase::Blocks => "blocks",
        }
    }
}

impl SyncMode {
    /// The name the status RPC, the config file and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            SyncMode::Full => "full",
            SyncMode::Snapshot => "snapshot",
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Progress {
    /// (when, blocks connected so far, transactions connected so far)
    samples: VecDeque<(Instant, u64, u64)>,
    blocks: u64,
    txs: u64,
}

impl Progress {
    pub(super) fn connected(&mut self, txs: usize) {
        self.blocks = self.blocks.saturating_add(1);
        self.txs = self.txs.saturating_add(txs as u64);
    }

    pub(super) fn sample(&mut self, now: Instant) {
        if self
            .samples
            .back()
            .is_some_and(|(at, _, _)| now.duration_since(*at) < Duration::from_millis(250))
        {
            return;
        }
        self.samples.push_back((now, self.blocks, self.txs));
        while self
            .samples
            .front()
            .is_some_and(|(at, _, _)| now.duration_since(*at) > RATE_SPAN)
        {
            self.samples.pop_front();
        }
    }

    pub(super) fn status(
        &self,
        syncing: bool,
        current: Height,
        target: Height,
        peers: usize,
        isolated: bool,
    ) -> SyncStatus {
        let (blocks_per_sec, txs_per_sec) = match (self.samples.front(), self.samples.back()) {
            (Some(first), Some(last)) if last.0 > first.0 => {
                let secs = last.0.duration_since(first.0).as_secs_f64();
                (
                    last.1.saturating_sub(first.1) as f64 / secs,
                    last.2.saturating_sub(first.2) as f64 / secs,
                )
            }
            _ => (0.0, 0.0),
        };
        let remaining = target.value().saturating_sub(current.value());
        let eta_secs =
            (blocks_per_sec > 0.0).then(|| (remaining as f64 / blocks_per_sec).ceil() as u64);
        SyncStatus {
            syncing,
            current_height: current,
            target_height: target,
            blocks_per_sec,
            txs_per_sec,
            eta_secs,
            peers,
            isolated,
            ..SyncStatus::default()
        }
    }
}
