//! The header chain being synced to: headers checked against every header rule (proof of
//! work, difficulty, timestamps, linkage) before any body is fetched.
//!
//! It starts at a block we have (the *base*) and holds the validated headers after it, in
//! height order. New headers attach after its last header, after any earlier one (the
//! peer's chain forks from what we had; the rest is dropped), or after any block in our
//! store (a new chain altogether).
//!
//! It never reads the store itself, so the sync task that owns it never waits on
//! the disk: what validation needs of a stored parent comes as a [`StoredParent`]
//! ([`crate::headers`]), read on the blocking pool by the connection task that received
//! the headers, and the base's recent timestamps are kept from then on.

use std::collections::{HashMap, VecDeque};

use tern_chain::block::Header;
use tern_chain::genesis::ConsensusParams;
use tern_chain::pow::{median_time_past, MEDIAN_TIME_SPAN};
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_chain::validation::{check_header, ParentContext};

pub use crate::headers::{HeaderChainError, StoredParent};

/// Headers held at most: about 20 MB. Past it, header requests wait for bodies.
pub const MAX_PENDING_HEADERS: usize = 100_000;

/// One validated header.
#[derive(Debug, Clone)]
pub struct PendingHeader {
    /// Its hash.
    pub hash: BlockHash,
    /// The header.
    pub header: Header,
    /// The work of the chain up to and including it.
    pub work: Work,
}

/// What adding headers did.
#[derive(Debug, Default)]
pub struct Extension {
    /// Headers added.
    pub added: usize,
    /// Headers dropped because the new ones fork before them.
    pub dropped: Vec<BlockHash>,
}

/// The validated headers after a block we have.
///
/// The headers are consecutive, so a header's place follows from its height, and
/// `heights` finds a hash's height: every lookup by hash is a map lookup, never a scan
/// of up to [`MAX_PENDING_HEADERS`] headers.
#[derive(Debug, Default)]
pub struct HeaderChain {
    headers: VecDeque<PendingHeader>,
    heights: HashMap<BlockHash, Height>,
    /// Timestamps of the base (the stored block before the first header) and up to ten
    /// of its ancestors, oldest first: the median-time rule for the first headers.
    base_timestamps: VecDeque<Timestamp>,
}

impl HeaderChain {
    /// How many headers are waiting for their blocks.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// The last header, if any.
    pub fn last(&self) -> Option<&PendingHeader> {
        self.headers.back()
    }

    /// The headers in height order.
    pub fn iter(&self) -> impl Iterator<Item = &PendingHeader> {
        self.headers.iter()
    }

    /// The header with this hash.
    pub fn get(&self, hash: &BlockHash) -> Option<&PendingHeader> {
        self.position(hash).and_then(|i| self.headers.get(i))
    }

    fn position(&self, hash: &BlockHash) -> Option<usize> {
        let height = self.heights.get(hash)?;
        let front = self.headers.front()?.header.height;
        let i = usize::try_from(height.blocks_since(front)?).ok()?;
        (self.headers.get(i)?.hash == *hash).then_some(i)
    }

    fn push(&mut self, header: PendingHeader) {
        self.heights.insert(header.hash, header.header.height);
        self.headers.push_back(header);
    }

    /// Removes the headers in `range` and returns their hashes.
    fn remove(&mut self, range: impl std::ops::RangeBounds<usize>) -> Vec<BlockHash> {
        let removed: Vec<BlockHash> = self.headers.drain(range).map(|h| h.hash).collect();
        for hash in &removed {
            self.heights.remove(hash);
        }
        removed
    }

    /// Forgets headers from the front up to and including `hash` (their blocks are
    /// connected). False if it is not in the chain.
    pub fn connected(&mut self, hash: &BlockHash) -> bool {
        let Some(i) = self.position(hash) else {
            return false;
        };
        for header in self.headers.drain(..=i) {
            self.heights.remove(&header.hash);
            push_recent(&mut self.base_timestamps, header.header.timestamp);
        }
        true
    }

    /// Forgets everything (the chain proved bad, or not worth following).
    pub fn clear(&mut self) -> Vec<BlockHash> {
        self.base_timestamps.clear();
        self.remove(..)
    }

    /// Checks `headers` (consecutive, oldest first) and adds them. They attach to a header
    /// of the chain, or else to `stored`, the stored block that is the first header's
    /// parent, if it is one. Headers past [`MAX_PENDING_HEADERS`] are left out, to be
    /// asked for again later.
    pub fn extend(
        &mut self,
        headers: &[Header],
        stored: Option<&StoredParent>,
        params: &ConsensusParams,
        now: Timestamp,
    ) -> Result<Extension, HeaderChainError> {
        // Headers held already (a second answer to the same locator, from this peer or
        // another) are skipped. Taken as a fork from their parent instead, they would be
        // dropped and added again, and their blocks, forgotten while still on the way,
        // fetched a second time.
        let known = headers
            .iter()
            .take_while(|header| self.position(&header.hash()).is_some())
            .count();
        let headers = headers.get(known..).unwrap_or_default();
        let Some(first) = headers.first() else {
            return Ok(Extension::default());
        };
        let mut extension = Extension::default();
        let (mut parent, mut work, mut recent, mut parent_header) =
            match self.position(&first.parent) {
                Some(i) => {
                    extension.dropped = self.remove(i + 1..);
                    self.tail_context()?
                }
                None => {
                    let Some(stored) = stored.filter(|s| s.hash == first.parent) else {
                        return Err(HeaderChainError::Detached);
                    };
                    extension.dropped = self.clear();
                    self.base_timestamps = stored.timestamps.clone();
                    (
                        stored.hash,
                        stored.work,
                        stored.timestamps.clone(),
                        stored.header,
                    )
                }
            };
        for header in headers {
            if self.headers.len() >= MAX_PENDING_HEADERS {
                break;
            }
            let context = ParentContext {
                hash: parent,
                height: parent_header.height,
                timestamp: parent_header.timestamp,
                median_time_past: median_time_past(recent.make_contiguous())
                    .unwrap_or(parent_header.timestamp),
            };
            let hash = header.hash();
            check_header(header, &context, params, now)
                .map_err(|error| HeaderChainError::Invalid { hash, error })?;
            work = work.saturating_add(header.target.work());
            self.push(PendingHeader {
                hash,
                header: *header,
                work,
            });
            push_recent(&mut recent, header.timestamp);
            parent = hash;
            parent_header = *header;
            extension.added += 1;
        }
        Ok(extension)
    }

    /// The last header's hash, work, recent timestamps (the base's before the chain
    /// starts) and header.
    fn tail_context(
        &self,
    ) -> Result<(BlockHash, Work, VecDeque<Timestamp>, Header), HeaderChainError> {
        let Some(last) = self.headers.back() else {
            return Err(HeaderChainError::Detached);
        };
        let mut recent: VecDeque<Timestamp> = self
            .headers
            .iter()
            .rev()
            .take(MEDIAN_TIME_SPAN)
            .map(|h| h.header.timestamp)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        for timestamp in self.base_timestamps.iter().rev() {
            if recent.len() >= MEDIAN_TIME_SPAN {
                break;
            }
            recent.push_front(*timestamp);
        }
        Ok((last.hash, last.work, recent, last.header))
    }
}

fn push_recent(recent: &mut VecDeque<Timestamp>, timestamp: Timestamp) {
    recent.push_back(timestamp);
    while recent.len() > MEDIAN_TIME_SPAN {
        recent.pop_front();
    }
}
