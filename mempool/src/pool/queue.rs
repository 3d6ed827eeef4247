//! One sender's pending transactions, in nonce order.

use std::collections::BTreeMap;

use tern_chain::state::Account;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::{Amount, Timestamp};

use super::fees::FeeRate;

/// A pending transaction and what the pool tracks about it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) tx: SignedTransaction,
    /// `amount + fee`, checked not to overflow when the transaction was admitted.
    pub(super) cost: Amount,
    pub(super) rate: FeeRate,
    pub(super) size: usize,
    pub(super) added: Timestamp,
    /// Pool-wide arrival counter, to break ties.
    pub(super) seq: u64,
}

/// A sender's account at the tip and its pending transactions by nonce. Those from the
/// account's nonce on without a gap are ready; those after a gap are future, and become
/// ready when the gap fills.
///
/// The transactions change only through [`Self::insert`] and [`Self::remove`], which keep
/// their total cost, so that admission checks a sender's funds without walking its queue
/// (a sender may hold `max_per_sender` transactions, each admission would be a walk).
#[derive(Debug, Clone)]
pub(super) struct SenderQueue {
    pub(super) account: Account,
    txs: BTreeMap<u64, Entry>,
    /// The sum of the transactions' costs. Never above some balance the sender had:
    /// every admission checks that the queue's cost with the newcomer fits the balance.
    cost: Amount,
}

impl SenderQueue {
    /// A queue with no transactions yet.
    pub(super) fn new(account: Account) -> SenderQueue {
        SenderQueue {
            account,
            txs: BTreeMap::new(),
            cost: Amount::ZERO,
        }
    }

    /// The pending transactions by nonce.
    pub(super) fn txs(&self) -> &BTreeMap<u64, Entry> {
        &self.txs
    }

    /// Adds `entry` at its nonce, which must be free (replacement removes first).
    pub(super) fn insert(&mut self, entry: Entry) {
        self.cost = self.cost.checked_add(entry.cost).unwrap_or(Amount::MAX);
        if let Some(old) = self.txs.insert(entry.tx.tx().nonce, entry) {
            self.cost = self.cost.checked_sub(old.cost).unwrap_or(Amount::ZERO);
        }
    }

    /// Removes the transaction with `nonce`, if pending.
    pub(super) fn remove(&mut self, nonce: u64) -> Option<Entry> {
        let entry = self.txs.remove(&nonce)?;
        self.cost = self.cost.checked_sub(entry.cost).unwrap_or(Amount::ZERO);
        Some(entry)
    }

    /// The nonce after the ready run: the next nonce a wallet should use.
    pub(super) fn next_nonce(&self) -> u64 {
        next_nonce_from(self.account.nonce, &self.txs)
    }

    /// Whether the transaction with `nonce` is ready.
    pub(super) fn is_ready(&self, nonce: u64) -> bool {
        nonce >= self.account.nonce && nonce < self.next_nonce()
    }

    /// The total `amount + fee` of the pending transactions, leaving out `except`.
    pub(super) fn cost_without(&self, except: Option<u64>) -> Amount {
        let excepted = except
            .and_then(|nonce| self.txs.get(&nonce))
            .map_or(Amount::ZERO, |e| e.cost);
        self.cost.checked_sub(excepted).unwrap_or(Amount::ZERO)
    }
}

/// The first nonce from `start` on that `txs` does not hold.
pub(super) fn next_nonce_from(start: u64, txs: &BTreeMap<u64, Entry>) -> u64 {
    let mut next = start;
    for nonce in txs.range(start..).map(|(n, _)| *n) {
        if nonce != next {
            break;
        }
        next = next.saturating_add(1);
    }
    next
}
