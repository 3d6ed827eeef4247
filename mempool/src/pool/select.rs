//! Choosing a block's transactions from the pool.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use tern_chain::tx::SignedTransaction;
use tern_chain::types::Address;

use super::fees::FeeRate;
use super::Mempool;

impl Mempool {
    /// Ready transactions for a block of at most `max_count` transactions and `max_bytes`
    /// bytes of transactions: highest fee rate first, each sender's in nonce order.
    ///
    /// Every sender's pending transactions together fit its balance at the tip (an
    /// admission rule), so the chosen set always applies.
    pub fn select(&self, max_count: usize, max_bytes: u64) -> Vec<SignedTransaction> {
        // Each sender's next ready transaction competes; taking one puts up its successor.
        let mut heap: BinaryHeap<(FeeRate, Reverse<u64>, Address, u64)> = self
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
        let mut chosen = Vec::new();
        let mut bytes = 0u64;
        while let Some((_, _, sender, nonce)) = heap.pop() {
            if chosen.len() >= max_count {
                break;
            }
            let Some(queue) = self.senders.get(&sender) else {
                continue;
            };
            let Some(entry) = queue.txs().get(&nonce) else {
                continue;
            };
            let size = entry.size as u64;
            if bytes.saturating_add(size) > max_bytes {
                // Its successors cannot go before it, so this sender is done.
                continue;
            }
            bytes = bytes.saturating_add(size);
            chosen.push(entry.tx.clone());
            let next = nonce.saturating_add(1);
            if let Some(successor) = queue.txs().get(&next) {
                heap.push((successor.rate, Reverse(successor.seq), sender, next));
            }
        }
        chosen
    }
}
