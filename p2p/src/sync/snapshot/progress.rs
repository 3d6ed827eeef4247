//! What a snapshot sync reports of its state download: chunks and accounts written,
//! bytes received, the recent rate and the ETA.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tern_chain::state_map::chunk::MAX_CHUNK_ACCOUNTS;
use tern_chain::types::Height;

use super::Snapshot;

/// Progress of the state download, for the status RPC and the log.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StateProgress {
    /// The pivot's height.
    pub pivot_height: Height,
    /// Chunks written.
    pub chunks_done: u64,
    /// Chunks written plus those still to fetch, estimated from the account counts peers
    /// claim for the subtrees still wanted.
    pub chunks_total: u64,
    /// Accounts written.
    pub accounts: u64,
    /// Chunk bytes received.
    pub bytes: u64,
    /// Accounts written per second, recently.
    pub accounts_per_sec: f64,
    /// Seconds to the end of the state at that rate, if moving.
    pub eta_secs: Option<u64>,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) chunks: u64,
    pub(super) accounts: u64,
    pub(super) bytes: u64,
    /// (when, accounts written by then)
    pub(super) samples: VecDeque<(Instant, u64)>,
}

impl Snapshot {
    pub(super) fn sample(&mut self, now: Instant) {
        let samples = &mut self.progress.samples;
        if samples
            .back()
            .is_some_and(|(at, _)| now.duration_since(*at) < Duration::from_millis(250))
        {
            return;
        }
        samples.push_back((now, self.progress.accounts));
        while samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > Duration::from_secs(10))
        {
            samples.pop_front();
        }
    }

    /// The state download's progress, while there is one.
    pub fn progress(&self) -> Option<StateProgress> {
        let pivot = self.pivot.as_ref()?;
        let counters = &self.progress;
        let accounts_per_sec = match (counters.samples.front(), counters.samples.back()) {
            (Some(first), Some(last)) if last.0 > first.0 => {
                last.1.saturating_sub(first.1) as f64 / last.0.duration_since(first.0).as_secs_f64()
            }
            _ => 0.0,
        };
        let claimed: u64 = self.wanted.values().sum();
        let in_flight = (self.in_flight.len() + self.ready.len() + self.restoring.len()) as u64;
        let chunks_left: u64 = self
            .wanted
            .values()
            .map(|accounts| accounts.div_ceil(MAX_CHUNK_ACCOUNTS as u64).max(1))
            .sum::<u64>()
            + in_flight;
        let eta_secs = (accounts_per_sec > 0.0 && claimed > 0)
            .then(|| (claimed as f64 / accounts_per_sec).ceil() as u64);
        Some(StateProgress {
            pivot_height: pivot.header.height,
            chunks_done: counters.chunks,
            chunks_total: counters.chunks.saturating_add(chunks_left),
            accounts: counters.accounts,
            bytes: counters.bytes,
            accounts_per_sec,
            eta_secs,
        })
    }
}
