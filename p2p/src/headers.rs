//! Block locators and header answers: how two nodes find where their chains meet, what a
//! header answer attaches to in our store ([`StoredParent`], read by the connection task
//! that received it), and why one is refused ([`HeaderChainError`]).
//!
//! A locator lists hashes of our canonical chain from the tip back to genesis: the last
//! [`DENSE_LOCATOR_STEPS`] one apart, then twice as far apart each step. The answering
//! node finds the first one on its own canonical chain and sends the headers after it.

use std::collections::VecDeque;
use std::sync::Arc;

use tern_chain::block::Header;
use tern_chain::error::BlockError;
use tern_chain::pow::MEDIAN_TIME_SPAN;
use tern_chain::types::{BlockHash, Height, Timestamp, Work};
use tern_state::chain::{ChainHandle, ChainReader};
use tern_state::store::StoreError;
use tokio::sync::watch;

use super::message::MAX_LOCATOR_HASHES;
use tern_tasks::TaskExecutor;

/// Why headers were refused.
#[derive(Debug, Clone, thiserror::Error)]
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
}

/// A stored block that headers may attach to: what validating a child needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredParent {
    /// Its hash.
    pub hash: BlockHash,
    /// Its header.
    pub header: Header,
    /// The work of the chain up to and including it.
    pub work: Work,
    /// Its timestamp and up to ten of its ancestors', oldest first.
    pub timestamps: VecDeque<Timestamp>,
}

impl StoredParent {
    /// Reads `hash` from the store, if it is there. Blocks on the disk: run it on the
    /// blocking pool.
    pub fn read(
        reader: &ChainReader,
        hash: &BlockHash,
    ) -> Result<Option<StoredParent>, StoreError> {
        let Some(entry) = reader.index_entry(hash)? else {
            return Ok(None);
        };
        Ok(Some(StoredParent {
            hash: *hash,
            header: entry.header,
            work: entry.cumulative_work,
            timestamps: stored_timestamps(reader, hash)?,
        }))
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

/// Locator entries one block apart before the steps start doubling.
pub const DENSE_LOCATOR_STEPS: u64 = 10;

/// The locator of our canonical chain: at most [`MAX_LOCATOR_HASHES`] hashes, newest
/// first, always ending with genesis.
pub fn locator(reader: &ChainReader) -> Result<Vec<BlockHash>, StoreError> {
    let tip = reader.tip()?.height().value();
    let mut heights = Vec::new();
    let mut height = tip;
    let mut step = 1u64;
    while heights.len() + 1 < MAX_LOCATOR_HASHES {
        heights.push(height);
        if height == 0 {
            break;
        }
        if heights.len() as u64 >= DENSE_LOCATOR_STEPS {
            step = step.saturating_mul(2);
        }
        height = height.saturating_sub(step);
    }
    if heights.last() != Some(&0) {
        heights.push(0);
    }
    let mut hashes = Vec::with_capacity(heights.len());
    for h in heights {
        if let Some(hash) = reader.hash_at(Height(h))? {
            hashes.push(hash);
        }
    }
    Ok(hashes)
}

/// Our locator, kept current as the tip moves by the task `sync locator` (on the blocking
/// pool, so the manager that reads it never waits on the disk). A burst of new tips costs
/// one locator, for the latest: the tip is followed on a `watch`. Ends with the chain.
pub async fn follow_locator(
    chain: &ChainHandle,
    tasks: &TaskExecutor,
) -> watch::Receiver<Arc<Vec<BlockHash>>> {
    let first = chain.reads().run(locator).await;
    let (sender, receiver) = watch::channel(Arc::new(first.unwrap_or_default()));
    let mut tips = chain.watch_tip();
    let reads = chain.reads().clone();
    tasks.spawn("sync locator", async move {
        while tips.changed().await.is_ok() {
            tips.borrow_and_update();
            match reads.run(locator).await {
                Ok(hashes) => {
                    sender.send_replace(Arc::new(hashes));
                }
                Err(error) => tracing::warn!(%error, "cannot read the chain for a locator"),
            }
        }
    });
    receiver
}

/// Up to `max` canonical headers after the first `locator` hash on our canonical chain
/// (after genesis if none is), ending at `stop` if it comes first.
pub fn headers_after(
    reader: &ChainReader,
    locator: &[BlockHash],
    stop: Option<BlockHash>,
    max: usize,
) -> Result<Vec<Header>, StoreError> {
    let mut start = 0u64;
    for hash in locator {
        if reader.is_canonical(hash)? {
            if let Some(entry) = reader.index_entry(hash)? {
                start = entry.header.height.value();
                break;
            }
        }
    }
    let mut headers = Vec::new();
    let mut height = start.saturating_add(1);
    while headers.len() < max {
        let Some(hash) = reader.hash_at(Height(height))? else {
            break;
        };
        let Some(header) = reader.header(&hash)? else {
            break;
        };
        headers.push(header);
        if Some(hash) == stop {
            break;
        }
        height = height.saturating_add(1);
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::genesis::ChainSpec;
    use tern_chain::testkit::ChainBuilder;
    use tern_chain::types::Timestamp;
    use tern_state::chain::Chain;

    fn chain_of(length: u64) -> (tempfile::TempDir, Chain) {
        let spec = ChainSpec::resolve("dev").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut chain = Chain::open(dir.path(), spec.clone()).unwrap();
        let mut builder = ChainBuilder::new(spec);
        let genesis = builder.genesis();
        let miner = tern_chain::types::Address::from_bytes([1; 32]);
        for block in builder.extend(&genesis, length as usize, &[], 0, miner) {
            chain.submit_block(block, Timestamp::now()).unwrap();
        }
        (dir, chain)
    }

    #[test]
    fn a_locator_is_dense_near_the_tip_and_ends_at_genesis() {
        let (_dir, chain) = chain_of(300);
        let reader = chain.reader();
        let hashes = locator(&reader).unwrap();
        assert!(hashes.len() <= MAX_LOCATOR_HASHES);
        assert_eq!(hashes.first(), Some(&chain.tip().hash));
        assert_eq!(hashes.last(), reader.hash_at(Height(0)).unwrap().as_ref());
        assert_eq!(hashes.get(1), reader.hash_at(Height(299)).unwrap().as_ref());
    }

    #[test]
    fn headers_follow_the_first_known_locator_hash() {
        let (_dir, chain) = chain_of(50);
        let reader = chain.reader();
        let at = |h| reader.hash_at(Height(h)).unwrap().unwrap();
        let unknown = BlockHash::from_bytes([9; 32]);
        let headers = headers_after(&reader, &[unknown, at(20), at(10)], None, 5).unwrap();
        let heights: Vec<u64> = headers.iter().map(|h| h.height.value()).collect();
        assert_eq!(heights, vec![21, 22, 23, 24, 25]);
        let headers = headers_after(&reader, &[unknown], Some(at(3)), 100).unwrap();
        assert_eq!(headers.len(), 3, "from genesis, up to the stop hash");
        assert!(headers_after(&reader, &[at(50)], None, 100)
            .unwrap()
            .is_empty());
    }
}
