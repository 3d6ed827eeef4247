//! Where ready transactions stand in block order, in one pass over the pool without a
//! heap, for the questions asked under the pool's lock by RPC callers: "how many go
//! before this one?" and "what must a newcomer pay to be in the next N blocks?".
//!
//! Block order ([`super::select::BlockOrder`]) takes, again and again, the best-paying of
//! every sender's next ready transaction. A transaction can therefore go no earlier than
//! the cheapest one before it in its sender's queue: its *standing* is the lowest order
//! key (fee rate, then earliest arrival) among itself and its sender's ready
//! transactions before it. Merging queues by their heads' keys yields them sorted by
//! standing, highest first, a sender's own in nonce order (a running minimum never rises,
//! and keys are unique, so two senders never tie). Counting and selecting by standing
//! gives block order's answers in time linear in the pool, and a count can stop in each
//! queue as soon as the standing falls below the one asked about.

use std::cmp::Reverse;

use tern_chain::types::TxId;

use super::fees::FeeRate;
use super::queue::SenderQueue;
use super::Mempool;

/// A transaction's order key: higher goes first.
pub(super) type OrderKey = (FeeRate, Reverse<u64>);

/// Each ready transaction of `queue` with its standing, in nonce order.
fn standings(queue: &SenderQueue) -> impl Iterator<Item = (u64, OrderKey)> + '_ {
    let mut standing: Option<OrderKey> = None;
    queue
        .txs()
        .range(queue.account.nonce..)
        .zip(queue.account.nonce..)
        .take_while(|((nonce, _), expected)| *nonce == expected)
        .map(move |((nonce, entry), _)| {
            let key = (entry.rate, Reverse(entry.seq));
            let low = standing.map_or(key, |s| s.min(key));
            standing = Some(low);
            (*nonce, low)
        })
}

impl Mempool {
    /// How many ready transactions block order takes before the ready transaction `id`;
    /// `None` if it is not pending and ready.
    pub(super) fn ready_position(&self, id: &TxId) -> Option<usize> {
        let (sender, nonce) = *self.ids.get(id)?;
        let queue = self.senders.get(&sender)?;
        let (before_it, own) = standings(queue)
            .enumerate()
            .find(|(_, (n, _))| *n == nonce)
            .map(|(i, (_, standing))| (i, standing))?;
        let others: usize = self
            .senders
            .iter()
            .filter(|(owner, _)| **owner != sender)
            .map(|(_, queue)| {
                standings(queue)
                    .take_while(|(_, standing)| *standing > own)
                    .count()
            })
            .sum();
        Some(before_it + others)
    }

    /// How many transactions are ready, and the standing of the one block order takes
    /// `room`-th (`None` when fewer are ready): a newcomer ranking above it is within the
    /// first `room`.
    pub(super) fn ready_cut(&self, room: usize) -> (usize, Option<OrderKey>) {
        let mut all: Vec<OrderKey> = self
            .senders
            .values()
            .flat_map(|queue| standings(queue).map(|(_, standing)| standing))
            .collect();
        let ready = all.len();
        if room == 0 || ready < room {
            return (ready, None);
        }
        let (_, cut, _) = all.select_nth_unstable_by(room - 1, |a, b| b.cmp(a));
        (ready, Some(*cut))
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::BlockOrder;
    use super::super::tests::{rich, tx, NOW};
    use super::*;
    use proptest::prelude::*;
    use tern_chain::crypto::dev_secret_key;
    use tern_chain::types::ChainId;

    proptest! {
        /// Standing gives block order's answers: each ready transaction's position, and
        /// the cut after any number of them.
        #[test]
        fn standing_agrees_with_block_order(
            queues in prop::collection::vec(prop::collection::vec(156u64..2_000, 1..6), 1..12),
            gap_at in prop::option::of(0usize..12),
        ) {
            let mut pool = Mempool::new(ChainId(7357), Default::default());
            for (s, fees) in queues.iter().enumerate() {
                let key = dev_secret_key(s as u32 + 1);
                for (nonce, fee) in fees.iter().enumerate() {
                    // One sender may leave a gap: its later transactions are not ready.
                    let nonce = if gap_at == Some(s) && nonce > 0 { nonce + 1 } else { nonce } as u64;
                    let _ = pool.admit(tx(&key, nonce, *fee), rich(), NOW);
                }
            }
            let order: Vec<TxId> = BlockOrder::new(&pool).map(|e| e.tx.id()).collect();
            for (position, id) in order.iter().enumerate() {
                prop_assert_eq!(pool.ready_position(id), Some(position));
            }
            for room in 1..=order.len() + 1 {
                let (ready, cut) = pool.ready_cut(room);
                prop_assert_eq!(ready, order.len());
                let expected = order.get(room - 1).map(|id| {
                    let (sender, nonce) = pool.ids[id];
                    standings(&pool.senders[&sender]).find(|(n, _)| *n == nonce).unwrap().1
                });
                prop_assert_eq!(cut, expected);
            }
        }
    }
}
