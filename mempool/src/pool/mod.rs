//! The mempool: transactions waiting for a block.
//!
//! A pure data structure, no threads: the node owns one, feeds it transactions from RPC
//! and peers through the same [`Mempool::admit`], tells it how the chain moved with
//! [`Mempool::apply_update`], and asks it for block contents with [`Mempool::select`].
//! Tip account state is passed in by the caller, so store access (and its errors) stays
//! with the caller.
//!
//! Rules, each with its own [`MempoolError`] variant:
//!
//! - stateless checks first: chain id, `amount + fee`, a recipient that is a key someone
//!   could sign with (policy: see `tern_chain::crypto::check_recipient`), signature;
//! - the nonce is at least the sender's next on-chain nonce, and at most
//!   [`MempoolConfig::max_nonce_gap`] past its next pending one ("future" transactions wait
//!   for the gap to fill);
//! - the sender's balance covers all its pending transactions together;
//! - the fee rate is at least the rolling minimum;
//! - a transaction with the same sender and nonce as a pending one replaces it only if its
//!   fee is [`REPLACEMENT_MARGIN_PERCENT`] higher;
//! - count, bytes and per-sender number are capped; when full, the lowest-rate
//!   transaction at the end of some sender's queue is evicted (never a nonce before a later
//!   one of the same sender), and the minimum rate rises above it, then decays;
//! - transactions older than [`MempoolConfig::max_age_ms`] expire.
//!
//! Beyond the rules, the pool says where a transaction stands ([`Mempool::lifecycle`]:
//! why a pending one waits, why a dropped one left, from a bounded journal) and what fee
//! gets one mined soon ([`Mempool::fee_estimate`]).

mod browse;
mod chain_updates;
mod error;
mod estimate;
mod fees;
mod journal;
mod lifecycle;
mod queue;
mod select;
mod standing;
mod stateless;

pub use browse::FeeBucket;
pub use error::MempoolError;
pub use estimate::{FeeEstimate, QueueBasis, RecentBasis, FEE_HISTORY_BLOCKS, FEE_TARGETS};
pub use fees::{FeeRate, INCREMENTAL_RATE};
pub use journal::{DropReason, Dropped, JOURNAL_CAPACITY, JOURNAL_RETENTION_MS};
pub use lifecycle::{Lifecycle, Pending, Waiting};
pub use select::BlockLimits;
pub use stateless::{decode_transaction, verify, verify_many, VerifiedTransaction};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use estimate::FeeHistory;
use fees::RollingFloor;
use journal::Journal;
use queue::{Entry, SenderQueue};
use tern_chain::crypto::check_recipient;
use tern_chain::error::TxError;
use tern_chain::state::Account;
use tern_chain::tx::{SignedTransaction, SIGNED_TRANSACTION_LEN};
use tern_chain::types::{Address, Amount, ChainId, Timestamp, TxId};

/// How much more a replacement must pay than the transaction it replaces.
pub const REPLACEMENT_MARGIN_PERCENT: u64 = 10;

/// The mempool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MempoolConfig {
    /// The most transactions held.
    pub max_count: usize,
    /// The most bytes of transactions held.
    pub max_bytes: usize,
    /// The most pending transactions per sender.
    pub max_per_sender: usize,
    /// How far past a sender's next pending nonce a transaction may be. As far as the
    /// sender may have pending transactions: a burst of them relayed over several paths
    /// arrives in any order, and one refused for arriving early is not offered again.
    pub max_nonce_gap: u64,
    /// The lowest fee rate accepted when the pool is not under pressure.
    pub min_fee_rate: FeeRate,
    /// How long a transaction may wait before it expires.
    pub max_age_ms: u64,
    /// How fast a raised minimum fee rate falls back: it halves every this many ms.
    pub min_fee_half_life_ms: u64,
}

impl Default for MempoolConfig {
    fn default() -> Self {
        MempoolConfig {
            max_count: 50_000,
            max_bytes: 32 * 1024 * 1024,
            max_per_sender: 64,
            max_nonce_gap: 64,
            min_fee_rate: FeeRate(1_000),
            max_age_ms: 3 * 60 * 60 * 1000,
            min_fee_half_life_ms: 10 * 60 * 1000,
        }
    }
}

/// What an admission did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The admitted transaction.
    pub id: TxId,
    /// The pending transaction it replaced, if any.
    pub replaced: Option<TxId>,
    /// Whether it can go in the next block (no nonce gap before it).
    pub ready: bool,
}

/// Figures for RPC and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MempoolStats {
    /// Transactions held.
    pub count: usize,
    /// Bytes held.
    pub bytes: usize,
    /// The minimum fee rate now.
    pub minimum_rate: FeeRate,
    /// The minimum fee for a transfer now.
    pub minimum_fee: Amount,
    /// Rejections so far, by [`MempoolError::reason`].
    pub rejections: BTreeMap<&'static str, u64>,
    /// Transactions evicted for better-paying ones.
    pub evicted: u64,
    /// Transactions that expired.
    pub expired: u64,
}

/// The pending-transaction pool.
#[derive(Debug)]
pub struct Mempool {
    chain_id: ChainId,
    config: MempoolConfig,
    senders: HashMap<Address, SenderQueue>,
    ids: HashMap<TxId, (Address, u64)>,
    /// Each sender's last (highest-nonce) transaction, cheapest first: eviction order.
    tails: BTreeSet<(FeeRate, Reverse<u64>, Address)>,
    /// Every transaction by arrival, oldest first: expiry order.
    arrivals: BTreeSet<(Timestamp, u64, TxId)>,
    bytes: usize,
    next_seq: u64,
    floor: RollingFloor,
    stats: MempoolStats,
    /// Chain updates applied so far (with each revalidation of everything): a caller that
    /// read accounts when this stood lower may hold accounts older than the pool's tip.
    updates_applied: u64,
    /// What became of transactions that left other than into a block.
    journal: Journal,
    /// What recent blocks took, for fee estimates.
    fee_history: FeeHistory,
}

/// Which admission rules apply beyond the state rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// A new transaction: the minimum fee applies.
    New,
    /// A transaction returned by a reorg: it was admitted before, so it may come back
    /// even if the minimum fee has risen since.
    Returned,
}

impl Mempool {
    /// An empty pool for chain `chain_id`.
    pub fn new(chain_id: ChainId, config: MempoolConfig) -> Self {
        Mempool {
            chain_id,
            config,
            senders: HashMap::new(),
            ids: HashMap::new(),
            tails: BTreeSet::new(),
            arrivals: BTreeSet::new(),
            bytes: 0,
            next_seq: 0,
            floor: RollingFloor::new(),
            stats: MempoolStats::default(),
            updates_applied: 0,
            journal: Journal::default(),
            fee_history: FeeHistory::default(),
        }
    }

    /// How many chain updates (and revalidations of everything) the pool has applied. An
    /// account read from the store after this was `n` is at least as new as the pool's
    /// tip as long as it still is `n`: see [`Self::admit`].
    pub fn updates_applied(&self) -> u64 {
        self.updates_applied
    }

    /// Whether the pool holds a transaction of `sender`, so that it judges the sender's
    /// next ones against its own view of the account.
    pub fn holds_sender(&self, sender: &Address) -> bool {
        self.senders.contains_key(sender)
    }

    /// The limits.
    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// How many transactions are pending.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Whether `id` is pending.
    pub fn contains(&self, id: &TxId) -> bool {
        self.ids.contains_key(id)
    }

    /// A pending transaction.
    pub fn get(&self, id: &TxId) -> Option<&SignedTransaction> {
        let (sender, nonce) = self.ids.get(id)?;
        self.senders.get(sender)?.txs().get(nonce).map(|e| &e.tx)
    }

    /// The next nonce `sender` should use given its tip `account`: after its pending ones.
    pub fn next_nonce(&self, sender: &Address, account: &Account) -> u64 {
        match self.senders.get(sender) {
            Some(queue) => queue::next_nonce_from(account.nonce, queue.txs()),
            None => account.nonce,
        }
    }

    /// What `sender`'s pending transactions cost together.
    pub fn pending_cost(&self, sender: &Address) -> Amount {
        self.senders
            .get(sender)
            .map_or(Amount::ZERO, |q| q.cost_without(None))
    }

    /// The minimum fee rate now.
    pub fn minimum_rate(&self, now: Timestamp) -> FeeRate {
        self.floor.current(
            self.config.min_fee_rate,
            self.config.min_fee_half_life_ms,
            now,
        )
    }

    /// Figures for RPC and metrics.
    pub fn stats(&self, now: Timestamp) -> MempoolStats {
        let minimum_rate = self.minimum_rate(now);
        MempoolStats {
            count: self.len(),
            bytes: self.bytes,
            minimum_rate,
            minimum_fee: minimum_rate.fee_for(SIGNED_TRANSACTION_LEN),
            ..self.stats.clone()
        }
    }

    /// Up to `limit` pending transactions, highest fee rate first.
    pub fn list(&self, limit: usize) -> Vec<&SignedTransaction> {
        let mut all: Vec<&Entry> = self.entries().collect();
        all.sort_by_key(|e| (Reverse(e.rate), e.seq));
        all.into_iter().take(limit).map(|e| &e.tx).collect()
    }

    /// Admits a transaction after every check, given its sender's `account` at the tip.
    /// `account` counts only for a sender the pool holds no transaction of: one it does is
    /// judged against the pool's own view, which [`Self::apply_update`] keeps (the caller
    /// read `account` earlier, and a block may have been applied since). For a new
    /// sender, the caller must read `account` again if [`Self::updates_applied`] moved
    /// since it read it: the update may have changed the account, and the pool, which did
    /// not hold the sender then, kept no view of it.
    pub fn admit(
        &mut self,
        tx: SignedTransaction,
        account: Account,
        now: Timestamp,
    ) -> Result<Admission, MempoolError> {
        // The same bytes as a pending transaction: nothing to check. Another encoding of
        // one (same txid, another signature) is checked first: a bad signature is
        // `bad_signature` from anyone, never "already pending".
        if self.get(&tx.id()).map(SignedTransaction::signed_hash) == Some(tx.signed_hash()) {
            return self.count_rejection(Err(MempoolError::AlreadyKnown));
        }
        let result = tx
            .check_stateless(self.chain_id)
            .map_err(MempoolError::from)
            .and_then(|()| check_recipient(&tx.tx().to).map_err(MempoolError::RecipientNotAKey))
            .and_then(|()| self.admit_with(tx, account, now, Policy::New));
        self.count_rejection(result)
    }

    /// Admits a transaction whose stateless checks already passed (see [`verify`]);
    /// `account` as in [`Self::admit`].
    pub fn admit_verified(
        &mut self,
        tx: VerifiedTransaction,
        account: Account,
        now: Timestamp,
    ) -> Result<Admission, MempoolError> {
        let result = self.admit_with(tx.into_inner(), account, now, Policy::New);
        self.count_rejection(result)
    }

    fn count_rejection(
        &mut self,
        result: Result<Admission, MempoolError>,
    ) -> Result<Admission, MempoolError> {
        if let Err(error) = &result {
            *self.stats.rejections.entry(error.reason()).or_default() += 1;
        }
        result
    }

    fn admit_with(
        &mut self,
        tx: SignedTransaction,
        account: Account,
        now: Timestamp,
        policy: Policy,
    ) -> Result<Admission, MempoolError> {
        let id = tx.id();
        if self.ids.contains_key(&id) {
            return Err(MempoolError::AlreadyKnown);
        }
        if tx.tx().chain_id != self.chain_id {
            return Err(TxError::WrongChain {
                expected: self.chain_id,
                found: tx.tx().chain_id,
            }
            .into());
        }
        self.expire(now);
        let size = SIGNED_TRANSACTION_LEN;
        let rate = FeeRate::of(tx.tx().fee, size);
        let minimum = self.minimum_rate(now);
        if policy == Policy::New && rate < minimum {
            return Err(MempoolError::FeeTooLow {
                minimum: minimum.fee_for(size),
            });
        }

        let sender = tx.tx().from;
        let nonce = tx.tx().nonce;
        // A sender the pool holds transactions of is judged against the pool's own view
        // of its account, which only chain updates change (`apply_update`, in the order
        // the chain made them). The caller's account was read before the caller took the
        // pool's lock, and an update may have been applied since: written over the view,
        // it could set the account back to before a block that mined some of the queue,
        // and the sender's remaining transactions would wait behind a nonce already used
        // until another block touched the sender. The caller's account starts new queues.
        let empty = SenderQueue::new(account);
        let queue = self.senders.get(&sender).unwrap_or(&empty);
        let account = queue.account;
        if nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                expected: account.nonce,
            });
        }
        let replacing = queue.txs().get(&nonce).map(|e| (e.tx.id(), e.tx.tx().fee));
        match replacing {
            Some((_, old_fee)) => {
                let minimum = lifecycle::replacement_minimum(old_fee);
                if tx.tx().fee < minimum {
                    return Err(MempoolError::ReplacementUnderpriced { minimum });
                }
            }
            None => {
                let next = queue.next_nonce();
                if nonce > next.saturating_add(self.config.max_nonce_gap) {
                    return Err(MempoolError::NonceGap {
                        expected: next,
                        max_ahead: self.config.max_nonce_gap,
                    });
                }
                if queue.txs().len() >= self.config.max_per_sender {
                    return Err(MempoolError::SenderFull {
                        limit: self.config.max_per_sender,
                    });
                }
            }
        }
        let others = queue.cost_without(Some(nonce));
        let cost = tx.tx().total_cost()?;
        // A sum beyond any amount is beyond the sender's balance too.
        let needed = others
            .checked_add(cost)
            .map_err(|_| MempoolError::InsufficientFunds {
                available: account.balance,
                needed: Amount::from_base_units(u64::MAX),
            })?;
        if needed > account.balance {
            return Err(MempoolError::InsufficientFunds {
                available: account.balance,
                needed,
            });
        }
        if replacing.is_none() {
            self.make_room(&sender, rate, size, now)?;
        }

        let replaced = replacing.map(|(old, _)| {
            self.drop_tx(&sender, nonce, DropReason::Replaced { by: id }, now);
            old
        });
        self.journal.readmitted(&id);
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        self.insert(
            sender,
            account,
            Entry {
                tx,
                cost,
                rate,
                size,
                added: now,
                seq,
            },
        );
        let ready = self.senders.get(&sender).is_some_and(|q| q.is_ready(nonce));
        Ok(Admission {
            id,
            replaced,
            ready,
        })
    }

    /// Evicts the cheapest sender tails (never `sender`'s own) until a transaction of
    /// `size` bytes fits, as long as each pays less than `rate`.
    fn make_room(
        &mut self,
        sender: &Address,
        rate: FeeRate,
        size: usize,
        now: Timestamp,
    ) -> Result<(), MempoolError> {
        while self.ids.len() >= self.config.max_count
            || self.bytes.saturating_add(size) > self.config.max_bytes
        {
            let cheapest = self
                .tails
                .iter()
                .find(|(_, _, owner)| owner != sender)
                .copied();
            let Some((tail_rate, _, owner)) = cheapest else {
                return Err(MempoolError::PoolFull {
                    minimum_fee: self.minimum_rate(now).fee_for(size),
                });
            };
            if tail_rate >= rate {
                let needed = FeeRate(tail_rate.0.saturating_add(INCREMENTAL_RATE.0))
                    .max(self.minimum_rate(now));
                return Err(MempoolError::PoolFull {
                    minimum_fee: needed.fee_for(size),
                });
            }
            let last = self
                .senders
                .get(&owner)
                .and_then(|q| q.txs().keys().next_back().copied());
            if let Some(nonce) = last {
                self.stats.evicted = self.stats.evicted.saturating_add(1);
                self.floor.raise(
                    tail_rate,
                    self.config.min_fee_rate,
                    self.config.min_fee_half_life_ms,
                    now,
                );
                let minimum_fee = self.minimum_rate(now).fee_for(size);
                self.drop_tx(&owner, nonce, DropReason::Evicted { minimum_fee }, now);
            }
        }
        Ok(())
    }

    fn tail_key(&self, sender: &Address) -> Option<(FeeRate, Reverse<u64>, Address)> {
        let (_, last) = self.senders.get(sender)?.txs().iter().next_back()?;
        Some((last.rate, Reverse(last.seq), *sender))
    }

    fn insert(&mut self, sender: Address, account: Account, entry: Entry) {
        if let Some(key) = self.tail_key(&sender) {
            self.tails.remove(&key);
        }
        self.ids
            .insert(entry.tx.id(), (sender, entry.tx.tx().nonce));
        self.arrivals
            .insert((entry.added, entry.seq, entry.tx.id()));
        self.bytes = self.bytes.saturating_add(entry.size);
        self.senders
            .entry(sender)
            .or_insert_with(|| SenderQueue::new(account))
            .insert(entry);
        if let Some(key) = self.tail_key(&sender) {
            self.tails.insert(key);
        }
    }

    fn remove(&mut self, sender: &Address, nonce: u64) -> Option<SignedTransaction> {
        if let Some(key) = self.tail_key(sender) {
            self.tails.remove(&key);
        }
        let queue = self.senders.get_mut(sender)?;
        let entry = queue.remove(nonce);
        if queue.txs().is_empty() {
            self.senders.remove(sender);
        } else if let Some(key) = self.tail_key(sender) {
            self.tails.insert(key);
        }
        let entry = entry?;
        self.ids.remove(&entry.tx.id());
        self.arrivals
            .remove(&(entry.added, entry.seq, entry.tx.id()));
        self.bytes = self.bytes.saturating_sub(entry.size);
        Some(entry.tx)
    }

    /// Removes a pending transaction that leaves without being mined, noting why.
    fn drop_tx(&mut self, sender: &Address, nonce: u64, reason: DropReason, now: Timestamp) {
        if let Some(tx) = self.remove(sender, nonce) {
            self.journal.dropped(tx, reason, now);
        }
    }

    /// Drops transactions older than the configured age.
    pub fn expire(&mut self, now: Timestamp) {
        let cutoff = now.as_millis().saturating_sub(self.config.max_age_ms);
        while let Some((added, _, id)) = self.arrivals.first().copied() {
            if added.as_millis() >= cutoff {
                break;
            }
            if let Some((sender, nonce)) = self.ids.get(&id).copied() {
                self.drop_tx(&sender, nonce, DropReason::Expired, now);
                self.stats.expired = self.stats.expired.saturating_add(1);
            } else {
                self.arrivals.pop_first();
            }
        }
    }
}

#[cfg(test)]
#[path = "mempool_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod lifecycle_tests;
