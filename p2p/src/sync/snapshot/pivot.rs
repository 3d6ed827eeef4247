//! Where a snapshot sync takes the state from: the pivot, chosen once the headers are
//! complete, and a newer one when no peer serves it any more.

use tern_chain::block::Header;
use tern_chain::types::{BlockHash, Height};

use super::progress::Counters;
use super::{ChunkPeer, Phase, Snapshot};
use crate::header_chain::HeaderChain;

/// The pivot and the headers up to it, kept apart from sync's header chain (which may be
/// dropped while the state downloads).
#[derive(Debug)]
pub(super) struct Pivot {
    pub(super) hash: BlockHash,
    pub(super) height: Height,
    pub(super) headers: Vec<Header>,
}

impl Snapshot {
    /// The pivot, once the headers are complete: the one a restart goes on with, or the
    /// header [`Self::pivot_depth`] below the end. Too short a chain turns the snapshot
    /// off.
    pub(super) fn choose_pivot(
        &mut self,
        headers: &HeaderChain,
        complete: bool,
        resume: Option<BlockHash>,
    ) -> Option<Header> {
        let chosen = match resume {
            Some(hash) => headers.get(&hash).map(|pending| pending.header)?,
            None => {
                if !complete || headers.is_empty() {
                    return None;
                }
                let len = headers.len() as u64;
                if len <= self.pivot_depth {
                    tracing::info!(
                        blocks = len,
                        pivot_depth = self.pivot_depth,
                        "the chain is too short for a snapshot: syncing in full"
                    );
                    self.phase = Phase::Off;
                    return None;
                }
                let index = usize::try_from(len - 1 - self.pivot_depth).ok()?;
                headers.iter().nth(index)?.header
            }
        };
        // The header chain starts right after genesis (the store has nothing else).
        let upto: Vec<Header> = headers
            .iter()
            .take_while(|pending| pending.header.height <= chosen.height)
            .map(|pending| pending.header)
            .collect();
        if upto.last().map(Header::hash) != Some(chosen.hash()) {
            return None;
        }
        tracing::info!(pivot = %chosen.hash(), height = chosen.height.value(), "chose the snapshot's pivot");
        self.pivot = Some(Pivot {
            hash: chosen.hash(),
            height: chosen.height,
            headers: upto,
        });
        self.phase = Phase::Beginning;
        Some(chosen)
    }

    /// A newer pivot, when every peer whose chain reaches the pivot said it does not
    /// keep its state (it pruned it, or reorganised away from it) and the headers now
    /// reach past it by the pivot depth. What was fetched of the old pivot is dropped:
    /// the chain undoes it, and the state of the newer one is fetched from the start.
    pub(super) fn move_pivot(&mut self, headers: &HeaderChain) -> Option<Header> {
        let pivot = self.pivot.as_ref()?;
        let reaching: Vec<&ChunkPeer> = self
            .peers
            .values()
            .filter(|s| s.best_height >= pivot.height)
            .collect();
        if reaching.is_empty() || !reaching.iter().all(|s| s.not_serving) {
            return None;
        }
        let last = headers.last()?.header.height.value();
        let height = last.checked_sub(self.pivot_depth)?;
        if height <= pivot.height.value() {
            return None;
        }
        let old = (pivot.hash, pivot.height);
        let index = usize::try_from(headers.len() as u64 - 1 - self.pivot_depth).ok()?;
        let chosen = headers.iter().nth(index)?.header;
        let upto: Vec<Header> = headers
            .iter()
            .take_while(|pending| pending.header.height <= chosen.height)
            .map(|pending| pending.header)
            .collect();
        if upto.last().map(Header::hash) != Some(chosen.hash()) {
            return None;
        }
        tracing::warn!(
            old = %old.0,
            old_height = old.1.value(),
            new = %chosen.hash(),
            height = chosen.height.value(),
            "no peer serves the pivot's state any more: moving to a newer pivot; what was \
             fetched of the old one is dropped"
        );
        self.pivot = Some(Pivot {
            hash: chosen.hash(),
            height: chosen.height,
            headers: upto,
        });
        self.wanted.clear();
        self.in_flight.clear();
        self.failed_from.clear();
        self.ready.clear();
        self.restoring.clear();
        self.progress = Counters::default();
        self.warned_unserved = false;
        for state in self.peers.values_mut() {
            state.not_serving = false;
            state.in_flight = 0;
        }
        self.phase = Phase::Beginning;
        Some(chosen)
    }
}
