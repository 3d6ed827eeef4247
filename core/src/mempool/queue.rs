//! One sender's pending transactions, in nonce order.

use std::collections::BTreeMap;

use crate::state::Account;
use crate::tx::SignedTransaction;
use crate::types::{Amount, Timestamp};

use super::fees::FeeRate;

/// A pending transaction and what the pool tracks about it.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) tx: SignedTransaction,
    pub(super) rate: FeeRate,
    pub(super) size: usize,
    pub(super) added: Timestamp,
    /// Pool-wide arrival counter, to break ties.
    pub(super) seq: u64,
}

/// A sender's account at the tip and its pending transactions by nonce. Those from the
/// account's nonce on without a gap are ready; those after a gap are future, and become
/// ready when the gap fills.
#[derive(Debug, Clone, Default)]
pub(super) struct SenderQueue {
    pub(super) account: Account,
    pub(super) txs: BTreeMap<u64, Entry>,
}

impl SenderQueue {
    /// The nonce after the ready run: the next nonce a wallet should use.
    pub(super) fn next_nonce(&self) -> u64 {
        next_nonce_from(self.account.nonce, &self.txs)
    }

    /// Whether the transaction with `nonce` is ready.
    pub(super) fn is_ready(&self, nonce: u64) -> bool {
        nonce >= self.account.nonce && nonce < self.next_nonce()
    }

    /// The total `amount + fee` of the pending transactions, leaving out `except`.
    pub(super) fn cost_without(&self, except: Option<u64>) -> Option<Amount> {
        self.txs
            .iter()
            .filter(|(nonce, _)| Some(**nonce) != except)
            .try_fold(Amount::ZERO, |sum, (_, e)| {
                sum.checked_add(e.tx.tx().total_cost().ok()?).ok()
            })
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
