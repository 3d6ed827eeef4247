//! Fork choice and reorganisation: the tip moves to the valid block with the most work,
//! disconnecting down to the fork point and connecting up the new branch, each block one
//! batch; a block that breaks a state rule on the way marks its branch invalid and the
//! chain returns to the best valid branch. No reorg goes below the store's floor.

use super::connect::{self, read_entry, ConnectError};
use super::{Chain, Failure};
use crate::store::schema::{
    BlockIndex, BlockIndexEntry, BlockStatus, Canonical, Meta, MetaKey, MetaValue,
};
use crate::store::{StoreError, TableReads};
use tern_chain::types::{BlockHash, Height};

/// How a reorg ended.
pub(super) enum ReorgEnd {
    /// At its target, or stopped at a branch already known invalid.
    Reached,
    /// A block on the way broke a state rule.
    Failed(Failure),
    /// The branch forks at this height, below the store's floor: nothing moved.
    BelowFloor(Height),
}

impl Chain {
    /// Moves the tip to the best valid block among `candidate` and the current tip,
    /// falling back to the old branch if the new one turns out invalid. Returns the blocks
    /// found invalid.
    pub(super) fn choose(&mut self, candidate: BlockHash) -> Result<Vec<Failure>, StoreError> {
        let candidates = [candidate, self.tip.hash];
        let mut failures = Vec::new();
        loop {
            let mut best: Option<(BlockHash, BlockIndexEntry)> = None;
            for hash in candidates {
                let entry = read_entry(&self.writes, &hash)?;
                let beats_tip = entry.cumulative_work > self.tip.cumulative_work;
                let beats_best = best.as_ref().is_none_or(|(_, b)| {
                    (entry.cumulative_work, std::cmp::Reverse(entry.sequence))
                        > (b.cumulative_work, std::cmp::Reverse(b.sequence))
                });
                if entry.status == BlockStatus::Valid && beats_tip && beats_best {
                    best = Some((hash, entry));
                }
            }
            let Some((target, _)) = best else { break };
            if target != candidate {
                // Falling back: record where we are heading, as for any reorg.
                self.set_reorg_target(target)?;
            }
            match self.reorg_to(target)? {
                ReorgEnd::Reached => {}
                ReorgEnd::Failed(failure) => {
                    tracing::warn!(block = %failure.0, error = %failure.1, "invalid block on the best branch");
                    failures.push(failure);
                }
                ReorgEnd::BelowFloor(fork) => {
                    tracing::error!(
                        %target,
                        fork = %fork,
                        floor = %self.floor,
                        "a branch with more work forks below the snapshot this store was \
                         restored from, where it holds no state: this node cannot follow it; \
                         sync a new data directory to join that branch"
                    );
                    break;
                }
            }
        }
        Ok(failures)
    }

    /// Records the block a reorg heads for. It is never cleared: once reached, or found
    /// invalid, it no longer beats the tip, and fork choice ignores it.
    fn set_reorg_target(&self, target: BlockHash) -> Result<(), StoreError> {
        let mut batch = self.writes.batch();
        batch.put::<Meta>(&MetaKey::ReorgTarget, &MetaValue(*target.as_bytes()));
        self.writes.write(batch).map(drop)
    }

    /// Reorganises to `target`: disconnect to the fork point, connect up to `target`.
    /// Stops at the first block that breaks a state rule, marking it and the rest of the
    /// branch invalid, and returns it. Moves nothing if the fork point is below the
    /// store's floor, where there is nothing to disconnect with.
    fn reorg_to(&mut self, target: BlockHash) -> Result<ReorgEnd, StoreError> {
        let mut branch = Vec::new();
        let mut cursor = target;
        let fork = loop {
            let entry = read_entry(&self.writes, &cursor)?;
            if self.writes.get::<Canonical>(&entry.header.height)? == Some(cursor) {
                break cursor;
            }
            if entry.status == BlockStatus::Invalid {
                self.mark_invalid(&branch)?;
                return Ok(ReorgEnd::Reached);
            }
            branch.push((cursor, entry));
            cursor = entry.header.parent;
        };
        let fork_height = read_entry(&self.writes, &fork)?.header.height;
        if fork_height < self.floor {
            return Ok(ReorgEnd::BelowFloor(fork_height));
        }
        let reorg_depth = self.tip.height().blocks_since(fork_height).unwrap_or(0);
        while self.tip.hash != fork {
            let hash = self.tip.hash;
            let block = self.block(&hash)?;
            self.tip = connect::disconnect(&self.writes, &block, &mut self.tree_upkeep)?;
            self.fresh.insert(hash, block);
        }
        branch.reverse();
        for (i, (hash, entry)) in branch.iter().enumerate() {
            let block = self.block(hash)?;
            match connect::connect(
                &self.writes,
                &block,
                entry,
                self.spec.consensus.block_reward,
                &mut self.tree_upkeep,
            ) {
                Ok(tip) => {
                    self.tip = tip;
                    self.prune()?;
                }
                Err(ConnectError::Invalid(error)) => {
                    self.mark_invalid(branch.get(i..).unwrap_or_default())?;
                    return Ok(ReorgEnd::Failed((*hash, error)));
                }
                Err(ConnectError::Store(error)) => return Err(error),
            }
        }
        if reorg_depth > 0 {
            tracing::info!(depth = reorg_depth, tip = %self.tip.hash, height = %self.tip.height(), "reorganised");
        }
        Ok(ReorgEnd::Reached)
    }

    fn mark_invalid(&self, blocks: &[(BlockHash, BlockIndexEntry)]) -> Result<(), StoreError> {
        let mut batch = self.writes.batch();
        for (hash, entry) in blocks {
            batch.put::<BlockIndex>(
                hash,
                &BlockIndexEntry {
                    status: BlockStatus::Invalid,
                    ..*entry
                },
            );
        }
        self.writes.write(batch).map(drop)
    }
}
