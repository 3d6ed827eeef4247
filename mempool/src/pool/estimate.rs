//! Fee estimation: what a transfer should pay to be mined within a number of blocks, from
//! two facts a wallet can check: the pool's own queue (what the next blocks will take)
//! and what recent blocks took when they were full. Like Bitcoin Core's
//! `estimatesmartfee`, but from the queue as well as from history, since the queue is
//! known exactly here and a dev chain has little history.

use std::collections::VecDeque;

use tern_chain::block::Block;
use tern_chain::tx::SIGNED_TRANSACTION_LEN;
use tern_chain::types::{Amount, Timestamp};

use super::fees::{FeeRate, INCREMENTAL_RATE};
use super::select::BlockLimits;
use super::Mempool;

/// The most recent blocks whose fees the pool remembers.
pub const FEE_HISTORY_BLOCKS: usize = 100;

/// The targets a fee can be estimated for, in blocks.
pub const FEE_TARGETS: std::ops::RangeInclusive<u64> = 1..=100;

/// A block counts as full when its transactions reach this share of its capacity, in
/// percent: the miner left out none it could take, so the cheapest one it took was the
/// price of getting in.
const FULL_PERCENT: usize = 95;

/// What one connected block took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BlockFees {
    height: u64,
    transfers: usize,
    lowest_rate: Option<FeeRate>,
}

/// The fees of the last [`FEE_HISTORY_BLOCKS`] blocks on the pool's chain.
#[derive(Debug, Default)]
pub(super) struct FeeHistory {
    blocks: VecDeque<BlockFees>,
}

impl FeeHistory {
    /// Notes a block that joined the chain.
    pub(super) fn connected(&mut self, block: &Block) {
        let height = block.header.height.value();
        self.disconnected(height);
        let lowest_rate = block
            .transactions
            .iter()
            .map(|tx| FeeRate::of(tx.tx().fee, SIGNED_TRANSACTION_LEN))
            .min();
        self.blocks.push_back(BlockFees {
            height,
            transfers: block.transactions.len(),
            lowest_rate,
        });
        while self.blocks.len() > FEE_HISTORY_BLOCKS {
            self.blocks.pop_front();
        }
    }

    /// Forgets the blocks from `height` up: a reorg took them out.
    pub(super) fn disconnected(&mut self, height: u64) {
        while self.blocks.back().is_some_and(|b| b.height >= height) {
            self.blocks.pop_back();
        }
    }

    /// The last `count` blocks, newest first.
    fn recent(&self, count: usize) -> impl Iterator<Item = &BlockFees> {
        self.blocks.iter().rev().take(count)
    }
}

/// A fee estimate and the facts it rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeEstimate {
    /// Blocks to be included within.
    pub target_blocks: u64,
    /// The fee for a transfer: the highest of the three below.
    pub fee: Amount,
    /// The pool's minimum fee now: less is refused.
    pub minimum_fee: Amount,
    /// The pool's queue.
    pub queue: QueueBasis,
    /// Recent blocks.
    pub recent: RecentBasis,
}

/// What the pool's queue says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueBasis {
    /// Transactions ready for a block now.
    pub ready: usize,
    /// Transfers one block holds.
    pub block_capacity: usize,
    /// The fee that outbids the last transaction the target's blocks would take, when the
    /// ready queue fills them; `None` when they have room for more.
    pub fee: Option<Amount>,
}

/// What recent blocks say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBasis {
    /// Blocks looked at: ten per target block, at most [`FEE_HISTORY_BLOCKS`] (fewer when
    /// the node has seen fewer).
    pub blocks: usize,
    /// How many of them were full.
    pub full: usize,
    /// The fee that beats the median cheapest transaction of the full ones, when more than
    /// half were full; `None` otherwise (blocks with room took every fee the pool took).
    pub fee: Option<Amount>,
}

impl Mempool {
    /// The fee for a transfer to be mined within `target_blocks` blocks (clamped to
    /// [`FEE_TARGETS`]) of `limits`, and what that rests on.
    pub fn fee_estimate(
        &self,
        target_blocks: u64,
        limits: BlockLimits,
        now: Timestamp,
    ) -> FeeEstimate {
        let target = target_blocks.clamp(*FEE_TARGETS.start(), *FEE_TARGETS.end());
        let minimum_fee = self.minimum_rate(now).fee_for(SIGNED_TRANSACTION_LEN);
        let queue = self.queue_basis(target, limits);
        let recent = self.recent_basis(target, limits);
        let fee = [Some(minimum_fee), queue.fee, recent.fee]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(minimum_fee);
        FeeEstimate {
            target_blocks: target,
            fee,
            minimum_fee,
            queue,
            recent,
        }
    }

    /// What the ready queue says for `target` blocks: one pass over the ready
    /// transactions (see [`super::standing`]). A newcomer must outbid the standing of the
    /// last transaction those blocks would take, which is its sender's cheapest before it
    /// as much as its own rate.
    fn queue_basis(&self, target: u64, limits: BlockLimits) -> QueueBasis {
        let block_capacity = limits.transfers().max(1);
        let room = block_capacity.saturating_mul(usize::try_from(target).unwrap_or(usize::MAX));
        let (ready, cut) = self.ready_cut(room);
        QueueBasis {
            ready,
            block_capacity,
            fee: cut.map(|(rate, _)| outbid(rate).fee_for(SIGNED_TRANSACTION_LEN)),
        }
    }

    /// What the last blocks say for `target` blocks: cheap, at most
    /// [`FEE_HISTORY_BLOCKS`] of them.
    pub(super) fn recent_basis(&self, target: u64, limits: BlockLimits) -> RecentBasis {
        let block_capacity = limits.transfers().max(1);
        let window = usize::try_from(target.saturating_mul(10))
            .unwrap_or(FEE_HISTORY_BLOCKS)
            .min(FEE_HISTORY_BLOCKS);
        let looked_at: Vec<&BlockFees> = self.fee_history.recent(window).collect();
        let mut full_rates: Vec<FeeRate> = looked_at
            .iter()
            .filter(|b| b.transfers * 100 >= block_capacity * FULL_PERCENT)
            .filter_map(|b| b.lowest_rate)
            .collect();
        full_rates.sort_unstable();
        let full = full_rates.len();
        let fee = (full * 2 > looked_at.len())
            .then(|| full_rates.get(full / 2).copied())
            .flatten()
            .map(|rate| outbid(rate).fee_for(SIGNED_TRANSACTION_LEN));
        RecentBasis {
            blocks: looked_at.len(),
            full,
            fee,
        }
    }
}

/// The lowest rate that ranks above `rate`.
fn outbid(rate: FeeRate) -> FeeRate {
    FeeRate(rate.0.saturating_add(INCREMENTAL_RATE.0))
}
