//! What became of transactions after they left the pool other than into a block, and
//! which transactions a reorg took out of the chain: kept for a bounded time, so that a
//! wallet asking "where is my transaction?" gets a fact ("replaced by …", "expired")
//! rather than "unknown".

use std::collections::{HashMap, VecDeque};

use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Amount, Timestamp, TxId};

/// The most transactions the journal remembers; the oldest are forgotten first.
pub const JOURNAL_CAPACITY: usize = 16_384;

/// How long the journal remembers a transaction: one hour.
pub const JOURNAL_RETENTION_MS: u64 = 60 * 60 * 1000;

/// Why a transaction left the pool without being mined. Each is a fact a wallet can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A transaction of the same sender and nonce paying more took its place.
    Replaced {
        /// The transaction that replaced it.
        by: TxId,
    },
    /// The pool was full and it paid least; the minimum fee rose above it.
    Evicted {
        /// The minimum fee for a transfer right after the eviction.
        minimum_fee: Amount,
    },
    /// It waited longer than the pool keeps a transaction
    /// ([`super::MempoolConfig::max_age_ms`]).
    Expired,
    /// A block included another transaction of its sender that used its nonce, or spent
    /// the funds it needed.
    Conflict,
    /// A reorg took out the block that included it (or that it depended on), and on the
    /// new chain it no longer applies.
    Reorg,
}

/// A transaction the pool dropped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The transaction.
    pub tx: SignedTransaction,
    /// Why it left.
    pub reason: DropReason,
    /// When it left.
    pub at: Timestamp,
}

/// What the journal knows of one transaction.
#[derive(Debug, Clone)]
struct Record {
    /// Set while the transaction is out of the pool and was dropped.
    dropped: Option<Dropped>,
    /// Whether a reorg ever disconnected a block that included it.
    reorged_out: bool,
    /// When the record last changed: its place in the expiry order.
    noted: Timestamp,
}

/// The bounded record of drops and reorged-out transactions.
#[derive(Debug, Default)]
pub(super) struct Journal {
    records: HashMap<TxId, Record>,
    /// Record changes, oldest first. A record changed again has a later entry too; an
    /// entry whose time is not its record's `noted` is stale and skipped. Records never
    /// outnumber entries, so bounding this bounds both.
    order: VecDeque<(Timestamp, TxId)>,
}

impl Journal {
    /// Notes that `tx` left the pool for `reason`.
    pub(super) fn dropped(&mut self, tx: SignedTransaction, reason: DropReason, now: Timestamp) {
        let id = tx.id();
        self.note(id, now, |record| {
            record.dropped = Some(Dropped {
                tx,
                reason,
                at: now,
            })
        });
    }

    /// Notes that a reorg disconnected a block including `id`.
    pub(super) fn reorged_out(&mut self, id: TxId, now: Timestamp) {
        self.note(id, now, |record| record.reorged_out = true);
    }

    /// Forgets a drop: the transaction is pending again.
    pub(super) fn readmitted(&mut self, id: &TxId) {
        if let Some(record) = self.records.get_mut(id) {
            record.dropped = None;
        }
    }

    /// Why `id` was dropped, if it was and is not pending again.
    pub(super) fn drop_of(&self, id: &TxId) -> Option<&Dropped> {
        self.records.get(id)?.dropped.as_ref()
    }

    /// Whether a reorg ever took `id` out of the chain (as far as the journal recalls).
    pub(super) fn was_reorged_out(&self, id: &TxId) -> bool {
        self.records.get(id).is_some_and(|r| r.reorged_out)
    }

    fn note(&mut self, id: TxId, now: Timestamp, change: impl FnOnce(&mut Record)) {
        self.forget_old(now);
        let record = self.records.entry(id).or_insert(Record {
            dropped: None,
            reorged_out: false,
            noted: now,
        });
        change(record);
        record.noted = now;
        self.order.push_back((now, id));
        while self.order.len() > JOURNAL_CAPACITY {
            self.pop_oldest();
        }
    }

    /// Forgets what is older than [`JOURNAL_RETENTION_MS`].
    pub(super) fn forget_old(&mut self, now: Timestamp) {
        let cutoff = now.as_millis().saturating_sub(JOURNAL_RETENTION_MS);
        while self
            .order
            .front()
            .is_some_and(|(noted, _)| noted.as_millis() < cutoff)
        {
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        let Some((noted, id)) = self.order.pop_front() else {
            return;
        };
        if self.records.get(&id).is_some_and(|r| r.noted == noted) {
            self.records.remove(&id);
        }
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.records.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_chain::crypto::dev_secret_key;
    use tern_chain::tx::Transaction;
    use tern_chain::types::ChainId;

    fn tx(nonce: u64) -> SignedTransaction {
        Transaction {
            chain_id: ChainId(7357),
            from: dev_secret_key(1).address(),
            to: dev_secret_key(2).address(),
            amount: Amount::from_base_units(1),
            fee: Amount::from_base_units(1_000),
            nonce,
        }
        .sign(&dev_secret_key(1))
    }

    #[test]
    fn a_drop_is_remembered_until_readmitted() {
        let mut journal = Journal::default();
        let t = tx(0);
        journal.dropped(t.clone(), DropReason::Expired, Timestamp(10));
        assert_eq!(
            journal.drop_of(&t.id()).map(|d| d.reason),
            Some(DropReason::Expired)
        );
        journal.readmitted(&t.id());
        assert!(journal.drop_of(&t.id()).is_none());
    }

    #[test]
    fn records_are_bounded_by_count_and_age() {
        let mut journal = Journal::default();
        for nonce in 0..(JOURNAL_CAPACITY as u64 + 10) {
            journal.dropped(tx(nonce), DropReason::Conflict, Timestamp(nonce));
        }
        assert_eq!(journal.len(), JOURNAL_CAPACITY);
        assert!(
            journal.drop_of(&tx(0).id()).is_none(),
            "the oldest went first"
        );
        // Noting one again keeps it past its first entry's turn.
        journal.reorged_out(tx(20).id(), Timestamp(100_000));
        journal.forget_old(Timestamp(JOURNAL_RETENTION_MS + 50_000));
        assert_eq!(journal.len(), 1);
        assert!(journal.was_reorged_out(&tx(20).id()));
        journal.forget_old(Timestamp(JOURNAL_RETENTION_MS + 100_001));
        assert_eq!(journal.len(), 0);
    }
}
