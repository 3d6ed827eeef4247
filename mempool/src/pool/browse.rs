//! What the pool shows to people browsing it (the explorer, wallets): its fees as a
//! histogram, and the pending transactions that touch one address. Reads only.

use std::cmp::Reverse;

use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Address, Amount};

use super::queue::Entry;
use super::Mempool;

/// Pending transactions whose fee is in `[min_fee, max_fee]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeBucket {
    /// The lowest fee of the bucket: a power of two (or zero).
    pub min_fee: Amount,
    /// The highest fee of the bucket: the next power of two, less one.
    pub max_fee: Amount,
    /// How many transactions pay a fee in the bucket.
    pub count: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// The bucket of `fee`: 0 for a zero fee, else one more than the position of its highest
/// set bit, so that bucket `k > 0` holds `[2^(k-1), 2^k - 1]`.
fn bucket_of(fee: Amount) -> usize {
    (u64::BITS - fee.base_units().leading_zeros()) as usize
}

fn bucket_bounds(bucket: usize) -> (Amount, Amount) {
    match bucket {
        0 => (Amount::ZERO, Amount::ZERO),
        k => {
            let low = 1u64 << (k - 1);
            (
                Amount::from_base_units(low),
                Amount::from_base_units(low.saturating_sub(1).saturating_add(low)),
            )
        }
    }
}

impl Mempool {
    /// Every pending transaction counted by fee, in buckets whose bounds double (at most
    /// 65), highest fees first, empty buckets left out: the shape of the pool at a glance.
    pub fn fee_histogram(&self) -> Vec<FeeBucket> {
        let mut counts = [(0usize, 0usize); u64::BITS as usize + 1];
        for entry in self.entries() {
            if let Some((count, bytes)) = counts.get_mut(bucket_of(entry.tx.tx().fee)) {
                *count += 1;
                *bytes += entry.size;
            }
        }
        counts
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, (count, _))| *count > 0)
            .map(|(bucket, &(count, bytes))| {
                let (min_fee, max_fee) = bucket_bounds(bucket);
                FeeBucket {
                    min_fee,
                    max_fee,
                    count,
                    bytes,
                }
            })
            .collect()
    }

    /// Up to `limit` pending transactions sent by or paying `address`: its own first, by
    /// nonce, then those paying it, best-paying first. Those paying it are found by a
    /// walk over the pool (at most its capacity).
    pub fn touching(&self, address: &Address, limit: usize) -> Vec<&SignedTransaction> {
        let sent = self
            .senders
            .get(address)
            .into_iter()
            .flat_map(|queue| queue.txs().values());
        let mut paying: Vec<&Entry> = self
            .entries()
            .filter(|e| e.tx.tx().to == *address && e.tx.tx().from != *address)
            .collect();
        paying.sort_by_key(|e| (Reverse(e.rate), e.seq));
        sent.chain(paying)
            .take(limit)
            .map(|entry| &entry.tx)
            .collect()
    }

    /// Calls `visit` with every pending transaction, in no order.
    pub fn visit(&self, mut visit: impl FnMut(&SignedTransaction)) {
        for entry in self.entries() {
            visit(&entry.tx);
        }
    }

    /// Every pending transaction's entry, in no order.
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.senders.values().flat_map(|queue| queue.txs().values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::tests::{min_fee, rich, tx, NOW};
    use crate::MempoolConfig;
    use tern_chain::crypto::dev_secret_key;
    use tern_chain::tx::Transaction;
    use tern_chain::types::ChainId;

    #[test]
    fn the_histogram_counts_every_transaction_once_highest_fees_first() {
        let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
        let (alice, bob) = (dev_secret_key(1), dev_secret_key(2));
        let low = min_fee();
        for (key, nonce, fee) in [(&alice, 0, low), (&alice, 1, low), (&bob, 0, low * 8)] {
            pool.admit(tx(key, nonce, fee), rich(), NOW).unwrap();
        }
        let histogram = pool.fee_histogram();
        assert_eq!(histogram.len(), 2);
        assert_eq!(histogram.iter().map(|b| b.count).sum::<usize>(), 3);
        let (top, bottom) = (histogram[0], histogram[1]);
        assert!(top.min_fee > bottom.max_fee);
        assert_eq!((top.count, bottom.count), (1, 2));
        assert!(top.min_fee.base_units() <= low * 8 && low * 8 <= top.max_fee.base_units());
        assert_eq!(bottom.bytes, pool.stats(NOW).bytes - top.bytes);
    }

    #[test]
    fn touching_finds_what_an_address_sent_and_what_pays_it() {
        let mut pool = Mempool::new(ChainId(7357), MempoolConfig::default());
        let (alice, bob, carol) = (dev_secret_key(1), dev_secret_key(2), dev_secret_key(3));
        let sent = tx(&alice, 0, min_fee());
        let paying_alice = Transaction {
            to: alice.address(),
            ..*tx(&bob, 0, min_fee()).tx()
        }
        .sign(&bob);
        let unrelated = tx(&carol, 0, min_fee());
        for t in [&sent, &paying_alice, &unrelated] {
            pool.admit(t.clone(), rich(), NOW).unwrap();
        }
        let ids = |txs: Vec<&SignedTransaction>| txs.iter().map(|t| t.id()).collect::<Vec<_>>();
        assert_eq!(
            ids(pool.touching(&alice.address(), 10)),
            vec![sent.id(), paying_alice.id()]
        );
        assert_eq!(ids(pool.touching(&alice.address(), 1)), vec![sent.id()]);
        assert!(pool.touching(&dev_secret_key(4).address(), 10).is_empty());
    }

    #[test]
    fn buckets_double_and_cover_every_fee() {
        assert_eq!(bucket_of(Amount::ZERO), 0);
        assert_eq!(bucket_of(Amount::from_base_units(1)), 1);
        assert_eq!(bucket_of(Amount::from_base_units(156)), 8);
        assert_eq!(
            bucket_bounds(8),
            (Amount::from_base_units(128), Amount::from_base_units(255))
        );
        assert_eq!(
            bucket_bounds(64),
            (Amount::from_base_units(1 << 63), Amount::MAX)
        );
        for fee in [0, 1, 2, 3, 155, 156, 255, 256, u64::MAX] {
            let fee = Amount::from_base_units(fee);
            let (low, high) = bucket_bounds(bucket_of(fee));
            assert!(low <= fee && fee <= high, "{fee}");
        }
    }
}
