//! Choosing a block's transactions from the pool, in the order blocks take them
//! ([`BlockOrder`]); [`super::standing`] answers where a transaction stands in that
//! order without walking it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tern_chain::tx::{SignedTransaction, SIGNED_TRANSACTION_LEN};
use tern_chain::types::Address;

use super::fees::FeeRate;
use super::queue::Entry;
use super::Mempool;

/// The most transactions and transaction bytes one block holds
/// (`tern_chain::miner::transaction_limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockLimits {
    /// The most transactions.
    pub count: usize,
    /// The most bytes of transactions.
    pub bytes: u64,
}

impl BlockLimits {
    /// How many transfers one block holds. Every transfer has the same size, so this is
    /// exact.
    pub fn transfers(&self) -> usize {
        let by_bytes = self.bytes / SIGNED_TRANSACTION_LEN as u64;
        self.count
            .min(usize::try_from(by_bytes).unwrap_or(usize::MAX))
    }
}

/// The ready transactions in the order blocks would take them: highest fee rate first,
/// each sender's in nonce order (a sender's next transaction competes only once the one
/// before it is taken).
pub(super) struct BlockOrder<'a> {
    pool: &'a Mempool,
    heap: BinaryHeap<(FeeRate, Reverse<u64>, Address, u64)>,
}

impl<'a> BlockOrder<'a> {
    pub(super) fn new(pool: &'a Mempool) -> Self {
        let heap = pool
            .senders
            .iter()
            .filter_map(|(sender, queue)| {
                let nonce = queue.account.nonce;
                queue
                    .txs()
                    .get(&nonce)
                    .map(|e| (e.rate, Reverse(e.seq), *sender, nonce))
            })
            .collect();
        BlockOrder { pool, heap }
    }
}

impl<'a> Iterator for BlockOrder<'a> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        while let Some((_, _, sender, nonce)) = self.heap.pop() {
            let Some(queue) = self.pool.senders.get(&sender) else {
                continue;
            };
            let Some(entry) = queue.txs().get(&nonce) else {
                continue;
            };
            let next = nonce.saturating_add(1);
            if let Some(successor) = queue.txs().get(&next) {
                self.heap
                    .push((successor.rate, Reverse(successor.seq), sender, next));
            }
            return Some(entry);
        }
        None
    }
}

impl Mempool {
    /// Whether a transaction is ready for the next block.
    pub fn has_ready(&self) -> bool {
        BlockOrder::new(self).next().is_some()
    }

    /// Ready transactions for a block of at most `max_count` transactions and `max_bytes`
    /// bytes of transactions, in [`BlockOrder`].
    ///
    /// Every sender's pending transactions together fit its balance at the tip (an
    /// admission rule), so the chosen set always applies.
    pub fn select(&self, max_count: usize, max_bytes: u64) -> Vec<SignedTransaction> {
        let mut chosen = Vec::new();
        let mut bytes = 0u64;
        for entry in BlockOrder::new(self) {
            if chosen.len() >= max_count {
                break;
            }
            let size = entry.size as u64;
            if bytes.saturating_add(size) > max_bytes {
                // Every transfer has the same size: nothing after this one fits either.
                break;
            }
            bytes = bytes.saturating_add(size);
            chosen.push(entry.tx.clone());
        }
        chosen
    }
}
