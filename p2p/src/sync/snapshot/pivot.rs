//! Where a snapshot sync takes the state from: the pivot, chosen once the headers are
//! complete, and a newer one when no peer serves it any more.

use tern_chain::block::Header;
use tern_chain::types::BlockHash;

use super::progress::Counters;
use super::{ChunkPeer, Phase, Snapshot};
use crate::sync::header_chain::HeaderChain;

/// The pivot and the headers up to it, kept apart from sync's header chain (which may be
/// dropped while the state downloads).
#[derive(Debug)]
pub(super) struct Pivot {
    pub(super) header: Header,
    pub(super) hash: BlockHash,
    pub(super) headers: Vec<Header>,
}

impl Pivot {
    /// `chosen`, with the headers up to it from `headers` (which start right after
    /// genesis: the store holds nothing else); `None` if they do not lead to it.
    fn at(headers: &HeaderChain, chosen: Header) -> Option<Pivot> {
        let upto: Vec<Header> = headers
            .iter()
            .take_while(|pending| pending.header.height <= chosen.height)
            .map(|pending| pending.header)
            .collect();
        let hash = chosen.hash();
        (upto.last().map(Header::hash) == Some(hash)).then_some(Pivot {
            header: chosen,
            hash,
            headers: upto,
        })
    }

    /// The header `depth` below the last of `headers`, as a pivot.
    fn below_end(headers: &HeaderChain, depth: u64) -> Option<Pivot> {
        let last = (headers.len() as u64).checked_sub(1)?;
        let index = usize::try_from(last.checked_sub(depth)?).ok()?;
        Pivot::at(headers, headers.iter().nth(index)?.header)
    }
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
        let pivot = match resume {
            Some(hash) => Pivot::at(headers, headers.get(&hash)?.header)?,
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
                Pivot::below_end(headers, self.pivot_depth)?
            }
        };
        let chosen = pivot.header;
        tracing::info!(pivot = %pivot.hash, height = pivot.header.height.value(), "chose the snapshot's pivot");
        self.pivot = Some(pivot);
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
            .filter(|s| s.best_height >= pivot.header.height)
            .collect();
        if reaching.is_empty() || !reaching.iter().all(|s| s.not_serving) {
            return None;
        }
        let newer = Pivot::below_end(headers, self.pivot_depth)?;
        if newer.header.height <= pivot.header.height {
            return None;
        }
        tracing::warn!(
            old = %pivot.hash,
            old_height = pivot.header.height.value(),
            new = %newer.hash,
            height = newer.header.height.value(),
            "no peer serves the pivot's state any more: moving to a newer pivot; what was \
             fetched of the old one is dropped"
        );
        let chosen = newer.header;
        self.pivot = Some(newer);
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
