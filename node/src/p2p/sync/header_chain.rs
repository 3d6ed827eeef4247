//! The header chain being synced to: headers checked against every header rule (proof of
//! work, difficulty, timestamps, linkage) before any body is fetched.
//!
//! It starts at a block we have (the *base*) and holds the validated headers after it, in
//! height order. New headers attach after its last header, after any earlier one (the
//! peer's chain forks from what we had; the rest is dropped), or after any block in our
//! store (a new chain altogether).

use std::collections::VecDeque;

use tern_core::block::Header;
use tern_core::chain::ChainReader;
use tern_core::error::BlockError;
use tern_core::genesis::ConsensusParams;
use tern_core::pow::{median_time_past, MEDIAN_TIME_SPAN};
use tern_core::store::StoreError;
use tern_core::types::{BlockHash, Height, Timestamp, Work};
use tern_core::validation::{check_header, ParentContext};

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

/// Why headers were refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderChainError {
    /// The first header's parent is neither ours nor in the chain.
    #[error("the headers do not attach to any block we know")]
    Detached,
    /// A header breaks a header rule.
    #[error("header {hash} is invalid: {error}")]
    Invalid {
        /// The header.
        hash: BlockHash,
        /// The rule.
        error: BlockError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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
#[derive(Debug, Default)]
pub struct HeaderChain {
    headers: VecDeque<PendingHeader>,
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
        // Searched from the back: new headers attach near the end.
        self.headers.iter().rposition(|h| h.hash == *hash)
    }

    /// Forgets headers from the front up to and including `hash` (their blocks are
    /// connected). False if it is not in the chain.
    pub fn connected(&mut self, hash: &BlockHash) -> bool {
        let Some(i) = self.position(hash) else {
            return false;
        };
        self.headers.drain(..=i);
        true
    }

    /// Forgets everything (the chain proved bad, or not worth following).
    pub fn clear(&mut self) -> Vec<BlockHash> {
        self.headers.drain(..).map(|h| h.hash).collect()
    }

    /// Checks `headers` (consecutive, oldest first) and adds them. Headers past
    /// [`MAX_PENDING_HEADERS`] are left out, to be asked for again later.
    pub fn extend(
        &mut self,
        headers: &[Header],
        reader: &ChainReader,
        params: &ConsensusParams,
        now: Timestamp,
    ) -> Result<Extension, HeaderChainError> {
        let Some(first) = headers.first() else {
            return Ok(Extension::default());
        };
        let mut extension = Extension::default();
        let (mut parent, mut work, mut recent) = match self.position(&first.parent) {
            Some(i) => {
                extension.dropped = self.headers.drain(i + 1..).map(|h| h.hash).collect();
                self.tail_context(reader)?
            }
            None => {
                let Some(entry) = reader.index_entry(&first.parent)? else {
                    return Err(HeaderChainError::Detached);
                };
                extension.dropped = self.clear();
                let recent = stored_timestamps(reader, &first.parent)?;
                (first.parent, entry.cumulative_work, recent)
            }
        };
        let mut parent_header = match self.headers.back() {
            Some(last) => last.header,
            None => reader.header(&parent)?.ok_or(HeaderChainError::Detached)?,
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
            self.headers.push_back(PendingHeader {
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

    /// The last header's hash, work and recent timestamps (reading the store for those
    /// before the chain starts).
    fn tail_context(
        &self,
        reader: &ChainReader,
    ) -> Result<(BlockHash, Work, VecDeque<Timestamp>), HeaderChainError> {
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
        if recent.len() < MEDIAN_TIME_SPAN {
            if let Some(first) = self.headers.front() {
                let mut older = stored_timestamps(reader, &first.header.parent)?;
                while recent.len() < MEDIAN_TIME_SPAN {
                    match older.pop_back() {
                        Some(t) => recent.push_front(t),
                        None => break,
                    }
                }
            }
        }
        Ok((last.hash, last.work, recent))
    }
}

/// Timestamps of a stored block and up to ten ancestors, oldest first.
fn stored_timestamps(
    reader: &ChainReader,
    hash: &BlockHash,
) -> Result<VecDeque<Timestamp>, StoreError> {
    let mut recent = VecDeque::with_capacity(MEDIAN_TIME_SPAN);
    let mut cursor = reader.header(hash)?;
    while let Some(header) = cursor {
        recent.push_front(header.timestamp);
        if recent.len() == MEDIAN_TIME_SPAN || header.height == Height(0) {
            break;
        }
        cursor = reader.header(&header.parent)?;
    }
    Ok(recent)
}

fn push_recent(recent: &mut VecDeque<Timestamp>, timestamp: Timestamp) {
    recent.push_back(timestamp);
    while recent.len() > MEDIAN_TIME_SPAN {
        recent.pop_front();
    }
}
