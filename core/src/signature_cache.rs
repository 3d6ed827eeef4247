//! The signature cache: transactions whose signatures verified, so that each signature is
//! checked once between mempool admission and block validation.
//!
//! Bitcoin Core keeps the same cache for the same reason: a transaction is checked when it
//! is admitted and again when a block carrying it arrives, and the second check is pure
//! waste. With the cache, a block whose transactions came through the mempool costs no
//! signature checks at all.
//!
//! # Why a hit is sound
//!
//! An entry is the [`SignedTxHash`] of a transaction whose signature passed the rule in
//! [`crate::crypto`]. That hash covers the signed fields (key and message) and the
//! signature, so a hit means exactly these bytes verified before; the verdict of the rule
//! depends on nothing else. Only signatures that verified are ever inserted, and a miss is
//! checked in full, so a block's verdict never depends on whether the cache was warm: only
//! its cost does.
//!
//! The cache is bounded ([`SIGNATURE_CACHE_ENTRIES`]) and forgets the least recently
//! inserted or admitted entry first. Block validation looks entries up without refreshing
//! them, so a block's transactions do not push out those still waiting in the mempool.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};

use lru::LruCache;
use rayon::prelude::*;

use crate::crypto::{BatchError, SignatureError};
use crate::tx::{self, SignedTransaction};
use crate::types::SignedTxHash;

/// How many verified transactions the cache remembers: well above the default mempool's
/// 50,000, so everything pending stays cached until it is mined. About 10 MiB.
pub const SIGNATURE_CACHE_ENTRIES: NonZeroUsize = match NonZeroUsize::new(131_072) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// A bounded set of transactions whose signatures verified; shared (behind an `Arc`) by
/// the mempool and the chain.
#[derive(Debug)]
pub struct SignatureCache {
    verified: Mutex<LruCache<SignedTxHash, ()>>,
}

impl Default for SignatureCache {
    fn default() -> Self {
        SignatureCache::new(SIGNATURE_CACHE_ENTRIES)
    }
}

/// Figures for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Entries held.
    pub entries: usize,
    /// The bound.
    pub capacity: usize,
}

impl SignatureCache {
    /// An empty cache of at most `capacity` entries.
    pub fn new(capacity: NonZeroUsize) -> SignatureCache {
        SignatureCache {
            verified: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<SignedTxHash, ()>> {
        // Every operation leaves the set consistent, so a panic elsewhere while the lock
        // was held cannot have broken it.
        self.verified.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `tx`'s signature is known to verify.
    pub fn contains(&self, tx: &SignedTransaction) -> bool {
        self.lock().contains(&tx.signed_hash())
    }

    /// The figures.
    pub fn stats(&self) -> CacheStats {
        let verified = self.lock();
        CacheStats {
            entries: verified.len(),
            capacity: verified.cap().get(),
        }
    }

    /// The positions and transactions among `txs` that the cache does not vouch for,
    /// looked up under one lock.
    fn unknown<'a>(
        &self,
        txs: impl Iterator<Item = &'a SignedTransaction>,
    ) -> (Vec<usize>, Vec<&'a SignedTransaction>) {
        let verified = self.lock();
        txs.enumerate()
            .filter(|(_, tx)| !verified.contains(&tx.signed_hash()))
            .unzip()
    }

    fn insert_all<'a>(&self, txs: impl IntoIterator<Item = &'a SignedTransaction>) {
        let mut verified = self.lock();
        for tx in txs {
            verified.put(tx.signed_hash(), ());
        }
    }

    /// Verifies the signatures of `txs` that the cache does not hold, in batches split
    /// across up to `threads` threads, with the verdict of [`tx::verify_signatures`] on
    /// all of them: the error names the first bad one by its position in `txs`. Those
    /// that verified are remembered.
    pub fn verify_signatures(
        &self,
        txs: &[SignedTransaction],
        threads: usize,
    ) -> Result<(), BatchError> {
        let (unknown, to_check) = self.unknown(txs.iter());
        if unknown.is_empty() {
            return Ok(());
        }
        let result = verify_split(&to_check, threads);
        // Everything before the first failure verified (single checks run in order).
        let good = match result {
            Ok(()) => to_check.len(),
            Err(failure) => failure.index,
        };
        self.insert_all(to_check.get(..good).unwrap_or_default().iter().copied());
        result.map_err(|failure| BatchError {
            index: unknown.get(failure.index).copied().unwrap_or(failure.index),
            error: failure.error,
        })
    }

    /// Each signature's own verdict, in order, for `txs` whose checks are independent
    /// (admission, where every caller gets its answer): those the cache does not hold are
    /// checked in batches split across up to `threads` threads. A bad signature ends its
    /// batch; the rest are batched again, so it costs the good ones a fallback, not a
    /// wrong or a slow verdict.
    pub fn verify_each(
        &self,
        txs: &[&SignedTransaction],
        threads: usize,
    ) -> Vec<Result<(), SignatureError>> {
        let mut verdicts: Vec<Result<(), SignatureError>> = vec![Ok(()); txs.len()];
        let (unknown, to_check) = self.unknown(txs.iter().copied());
        let mut start = 0;
        while let Some(rest) = to_check.get(start..).filter(|rest| !rest.is_empty()) {
            let (good, failure) = match verify_split(rest, threads) {
                Ok(()) => (rest.len(), None),
                Err(failure) => (failure.index, Some(failure)),
            };
            self.insert_all(rest.get(..good).unwrap_or_default().iter().copied());
            let Some(failure) = failure else { break };
            let position = start.saturating_add(failure.index);
            if let Some(verdict) = unknown.get(position).and_then(|&i| verdicts.get_mut(i)) {
                *verdict = Err(failure.error);
            }
            start = position.saturating_add(1);
        }
        verdicts
    }
}

/// Fewer signatures than this per thread are not worth splitting: a batch of 64 already
/// gets most of batching's gain, and handing a batch to another thread costs a wake-up.
pub const MIN_SIGNATURES_PER_THREAD: usize = 64;

/// Batches per thread that [`verify_split`] cuts. Two: a 1,000-transaction block becomes
/// four batches of 250 on two cores, which keep most of a large batch's gain per signature
/// (four times as many batches cost the cold import 5-10 points of the ceiling), while a
/// thread slowed by another on its core (the chain actor, say) still leaves a batch to
/// the others instead of a core idle until it finishes.
const BATCHES_PER_THREAD: usize = 2;

/// [`tx::verify_signatures`] over `txs` cut into batches that up to `threads` threads
/// verify at once, with the same verdict: the first bad transaction in order.
///
/// The batches run on rayon's global pool, one thread per core, started once and shared
/// by every caller (admission threads, blocks verified ahead): a batch waits for no thread
/// to be started, and batches of several callers share the cores without oversubscribing
/// them. The pool's threads hold nothing of the node's; they idle between calls.
fn verify_split(txs: &[&SignedTransaction], threads: usize) -> Result<(), BatchError> {
    let threads = threads.min(txs.len() / MIN_SIGNATURES_PER_THREAD).max(1);
    if threads == 1 {
        return tx::verify_signatures(txs.iter().copied());
    }
    let size = txs
        .len()
        .div_ceil(threads.saturating_mul(BATCHES_PER_THREAD))
        .max(MIN_SIGNATURES_PER_THREAD);
    // The first failing batch in order holds the first bad transaction.
    txs.par_chunks(size)
        .enumerate()
        .find_map_first(|(i, batch)| {
            tx::verify_signatures(batch.iter().copied())
                .err()
                .map(|failure| BatchError {
                    index: i.saturating_mul(size).saturating_add(failure.index),
                    error: failure.error,
                })
        })
        .map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dev_secret_key;
    use crate::tx::Transaction;
    use crate::types::{Amount, ChainId};

    fn transfers(count: u64) -> Vec<SignedTransaction> {
        let key = dev_secret_key(0);
        (0..count)
            .map(|nonce| {
                Transaction {
                    chain_id: ChainId(7),
                    from: key.address(),
                    to: dev_secret_key(1).address(),
                    amount: Amount::from_base_units(5),
                    fee: Amount::from_base_units(1),
                    nonce,
                }
                .sign(&key)
            })
            .collect()
    }

    fn forged(tx: &SignedTransaction) -> SignedTransaction {
        let mut tampered = *tx.tx();
        tampered.amount = Amount::from_base_units(6);
        SignedTransaction::new(tampered, *tx.signature())
    }

    #[test]
    fn verified_transactions_are_remembered_and_bad_ones_never() {
        let cache = SignatureCache::default();
        let mut txs = transfers(4);
        txs[2] = forged(&txs[2]);
        let failure = BatchError {
            index: 2,
            error: SignatureError::Mismatch,
        };
        assert_eq!(cache.verify_signatures(&txs, 1), Err(failure));
        assert!(cache.contains(&txs[0]) && cache.contains(&txs[1]));
        assert!(!cache.contains(&txs[2]) && !cache.contains(&txs[3]));
        // A warm cache gives the same verdict, naming the same position.
        assert_eq!(cache.verify_signatures(&txs, 1), Err(failure));
        assert_eq!(cache.verify_signatures(&txs[..2], 1), Ok(()));
        assert_eq!(cache.stats().entries, 2);
    }

    #[test]
    fn another_encoding_of_a_cached_transfer_is_checked_on_its_own() {
        let cache = SignatureCache::default();
        let txs = transfers(1);
        assert_eq!(cache.verify_signatures(&txs, 1), Ok(()));
        let shifted = dev_secret_key(0)
            .sign_with_shifted_nonce(&txs[0].signing_message(), 3)
            .unwrap();
        let copy = SignedTransaction::new(*txs[0].tx(), shifted);
        assert!(!cache.contains(&copy), "a hit is about exact bytes");
        assert_eq!(cache.verify_signatures(&[copy], 1), Ok(()));
    }

    #[test]
    fn each_transaction_gets_its_own_verdict() {
        let cache = SignatureCache::default();
        let mut txs = transfers(200);
        for bad in [0, 70, 71, 199] {
            txs[bad] = forged(&txs[bad]);
        }
        let refs: Vec<&SignedTransaction> = txs.iter().collect();
        let verdicts = cache.verify_each(&refs, 2);
        for (i, verdict) in verdicts.iter().enumerate() {
            let expected = if [0, 70, 71, 199].contains(&i) {
                Err(SignatureError::Mismatch)
            } else {
                Ok(())
            };
            assert_eq!(*verdict, expected, "transaction {i}");
        }
        assert_eq!(cache.stats().entries, 196);
        // Warm, the same verdicts.
        assert_eq!(cache.verify_each(&refs, 1), verdicts);
    }

    #[test]
    fn split_batches_name_the_first_failure_in_order() {
        let cache = SignatureCache::default();
        let mut txs = transfers(300);
        txs[250] = forged(&txs[250]);
        txs[140] = forged(&txs[140]);
        assert_eq!(
            cache.verify_signatures(&txs, 4),
            Err(BatchError {
                index: 140,
                error: SignatureError::Mismatch
            })
        );
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = SignatureCache::new(NonZeroUsize::new(3).unwrap());
        let txs = transfers(5);
        assert_eq!(cache.verify_signatures(&txs, 1), Ok(()));
        assert_eq!(cache.stats().entries, 3);
        assert!(!cache.contains(&txs[0]) && cache.contains(&txs[4]));
    }
}
