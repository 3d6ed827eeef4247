//! Where a transaction stands, as far as the pool knows: pending and why it waits, or
//! dropped and why it left. The chain's own record (confirmed or not) is the caller's
//! to combine with this.

use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Amount, Timestamp, TxId};

use super::journal::Dropped;
use super::select::BlockLimits;
use super::Mempool;

/// What the pool knows of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// Waiting for a block.
    Pending(Pending),
    /// Dropped without being mined, within the journal's memory
    /// ([`super::JOURNAL_RETENTION_MS`]).
    Dropped(Dropped),
    /// Neither: never seen, mined, or forgotten.
    NotHeld,
}

/// A pending transaction and why it is not mined yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Why it waits.
    pub why: Waiting,
    /// When the pool admitted it.
    pub since: Timestamp,
    /// When it expires unless mined first.
    pub expires: Timestamp,
}

/// Why a pending transaction waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// An earlier nonce of its sender is missing: nothing after it can be mined first.
    NonceGap {
        /// The first nonce missing.
        missing_nonce: u64,
    },
    /// The next block will take others first (the ready queue ahead of it fills a block),
    /// or recent full blocks took only higher fees.
    FeeTooLowForNextBlock {
        /// What to pay instead: [`Mempool::fee_estimate`] for one block, and enough to
        /// replace this transaction.
        suggested_fee: Amount,
    },
    /// Ready, and within the next block at its place in the queue.
    Queued {
        /// How many ready transactions a block takes before it.
        position: usize,
    },
}

impl Mempool {
    /// What the pool knows of `id` at `now`, with blocks of `limits`. For a ready
    /// transaction, one pass over the ready transactions (see [`super::standing`]), and a
    /// second for the suggested fee when it is behind: linear in the pool's size, bounded
    /// by [`super::MempoolConfig::max_count`].
    pub fn lifecycle(&self, id: &TxId, limits: BlockLimits, now: Timestamp) -> Lifecycle {
        let Some((sender, nonce)) = self.ids.get(id).copied() else {
            return match self.journal.drop_of(id) {
                Some(dropped) => Lifecycle::Dropped(dropped.clone()),
                None => Lifecycle::NotHeld,
            };
        };
        let Some(queue) = self.senders.get(&sender) else {
            return Lifecycle::NotHeld;
        };
        let Some(entry) = queue.txs().get(&nonce) else {
            return Lifecycle::NotHeld;
        };
        let why = if queue.is_ready(nonce) {
            let position = self.ready_position(id).unwrap_or(usize::MAX);
            // The queue's cut is what a newcomer must beat; one already in the next block
            // is behind only if full recent blocks took higher fees than it pays.
            let fee = entry.tx.tx().fee;
            let outbid_lately = self.recent_basis(1, limits).fee.is_some_and(|f| fee < f);
            if position >= limits.transfers() || outbid_lately {
                let next_block = self.fee_estimate(1, limits, now);
                Waiting::FeeTooLowForNextBlock {
                    suggested_fee: next_block.fee.max(replacement_minimum(fee)),
                }
            } else {
                Waiting::Queued { position }
            }
        } else {
            Waiting::NonceGap {
                missing_nonce: queue.next_nonce(),
            }
        };
        Lifecycle::Pending(Pending {
            tx: entry.tx.clone(),
            why,
            since: entry.added,
            expires: Timestamp(
                entry
                    .added
                    .as_millis()
                    .saturating_add(self.config.max_age_ms),
            ),
        })
    }

    /// Whether a reorg took `id` out of the chain within the journal's memory.
    pub fn was_reorged_out(&self, id: &TxId) -> bool {
        self.journal.was_reorged_out(id)
    }
}

/// The least fee that replaces a pending transaction paying `fee`
/// ([`super::REPLACEMENT_MARGIN_PERCENT`] more, and at least one base unit more).
pub(super) fn replacement_minimum(fee: Amount) -> Amount {
    let margin = fee
        .base_units()
        .saturating_mul(100 + super::REPLACEMENT_MARGIN_PERCENT)
        .div_ceil(100);
    Amount::from_base_units(margin.max(fee.base_units().saturating_add(1)))
}
