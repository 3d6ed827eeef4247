//! Blocks whose parent is not known yet.
//!
//! A peer can send blocks with unknown parents at will, so the pool is bounded by count,
//! bytes and age; the oldest entry goes first when it is full. Only blocks whose header
//! meets its own target get here, so filling the pool costs proof of work.

use std::collections::{HashMap, VecDeque};

use tern_chain::block::Block;
use tern_chain::types::{BlockHash, Timestamp};

/// The most orphans held at once.
pub const MAX_ORPHANS: usize = 256;

/// The most bytes of orphan blocks held at once.
pub const MAX_ORPHAN_BYTES: u64 = 64 * 1024 * 1024;

/// How long an orphan waits for its parent, in milliseconds.
pub const MAX_ORPHAN_AGE_MS: u64 = 10 * 60 * 1000;

/// The orphan pool.
#[derive(Debug, Default)]
pub struct OrphanPool {
    blocks: HashMap<BlockHash, Block>,
    by_parent: HashMap<BlockHash, Vec<BlockHash>>,
    /// Arrival order, oldest first, for expiry and eviction.
    arrivals: VecDeque<(Timestamp, BlockHash)>,
    bytes: u64,
}

impl OrphanPool {
    /// Whether `hash` is waiting here.
    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.blocks.contains_key(hash)
    }

    /// How many blocks wait.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Adds a block, first dropping expired ones and then the oldest while over a limit.
    pub fn insert(&mut self, block: Block, now: Timestamp) {
        let hash = block.hash();
        if self.blocks.contains_key(&hash) {
            return;
        }
        self.expire(now);
        let size = block.encoded_len();
        while !self.arrivals.is_empty()
            && (self.blocks.len() >= MAX_ORPHANS
                || self.bytes.saturating_add(size) > MAX_ORPHAN_BYTES)
        {
            if let Some((_, oldest)) = self.arrivals.pop_front() {
                self.remove(&oldest);
            }
        }
        self.by_parent
            .entry(block.header.parent)
            .or_default()
            .push(hash);
        self.arrivals.push_back((now, hash));
        self.bytes = self.bytes.saturating_add(size);
        self.blocks.insert(hash, block);
    }

    /// Removes and returns the blocks waiting for `parent`.
    pub fn take_children(&mut self, parent: &BlockHash) -> Vec<Block> {
        let children = self.by_parent.remove(parent).unwrap_or_default();
        children
            .iter()
            .filter_map(|hash| self.remove(hash))
            .collect()
    }

    fn remove(&mut self, hash: &BlockHash) -> Option<Block> {
        let block = self.blocks.remove(hash)?;
        self.bytes = self.bytes.saturating_sub(block.encoded_len());
        if let Some(siblings) = self.by_parent.get_mut(&block.header.parent) {
            siblings.retain(|h| h != hash);
            if siblings.is_empty() {
                self.by_parent.remove(&block.header.parent);
            }
        }
        self.arrivals.retain(|(_, h)| h != hash);
        Some(block)
    }

    fn expire(&mut self, now: Timestamp) {
        while let Some((arrived, hash)) = self.arrivals.front().copied() {
            if now.as_millis().saturating_sub(arrived.as_millis()) <= MAX_ORPHAN_AGE_MS {
                break;
            }
            self.arrivals.pop_front();
            self.remove(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::genesis::ChainSpec;
    use tern_chain::types::Height;

    fn orphan(parent: u8, nonce: u64) -> Block {
        let mut block = ChainSpec::resolve("dev").unwrap().genesis_block();
        block.header.parent = BlockHash::from_bytes([parent; 32]);
        block.header.height = Height(5);
        block.header.nonce = nonce;
        block
    }

    #[test]
    fn children_are_found_by_parent() {
        let mut pool = OrphanPool::default();
        pool.insert(orphan(1, 0), Timestamp(0));
        pool.insert(orphan(1, 1), Timestamp(0));
        pool.insert(orphan(2, 2), Timestamp(0));
        let children = pool.take_children(&BlockHash::from_bytes([1; 32]));
        assert_eq!(children.len(), 2);
        assert_eq!(pool.len(), 1);
        assert!(pool
            .take_children(&BlockHash::from_bytes([1; 32]))
            .is_empty());
    }

    #[test]
    fn the_pool_is_bounded_by_count_and_evicts_the_oldest() {
        let mut pool = OrphanPool::default();
        let first = orphan(1, 0);
        pool.insert(first.clone(), Timestamp(0));
        for nonce in 1..=MAX_ORPHANS as u64 + 10 {
            pool.insert(orphan(1, nonce), Timestamp(nonce));
        }
        assert_eq!(pool.len(), MAX_ORPHANS);
        assert!(!pool.contains(&first.hash()));
    }

    #[test]
    fn old_orphans_expire() {
        let mut pool = OrphanPool::default();
        let old = orphan(1, 0);
        pool.insert(old.clone(), Timestamp(0));
        pool.insert(orphan(1, 1), Timestamp(MAX_ORPHAN_AGE_MS + 1));
        assert!(!pool.contains(&old.hash()));
        assert_eq!(pool.len(), 1);
    }
}
