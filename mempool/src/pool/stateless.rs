//! The checks a transaction passes on its own, whatever the chain's state: decoding,
//! chain id, `amount + fee`, a recipient that is a key, and the signature. They run
//! outside the pool's lock, in batches, on the admission threads.

use tern_chain::crypto::{check_recipient, SignatureError};
use tern_chain::encoding::{self, DecodeError};
use tern_chain::error::TxError;
use tern_chain::signature_cache::SignatureCache;
use tern_chain::tx::SignedTransaction;
use tern_chain::types::ChainId;

use super::MempoolError;

/// Decodes a transaction submitted as bytes, with the mempool's errors.
pub fn decode_transaction(bytes: &[u8]) -> Result<SignedTransaction, MempoolError> {
    encoding::decode(bytes).map_err(|e| match e {
        DecodeError::TooLarge { len, max } => MempoolError::TooLarge { size: len, max },
        other => MempoolError::Malformed(other),
    })
}

/// A transaction whose stateless checks (chain id, `amount + fee`, recipient, signature) passed.
/// Only [`verify`] makes one, so the expensive check can run outside the pool's lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedTransaction(SignedTransaction);

impl VerifiedTransaction {
    /// The transaction.
    pub fn get(&self) -> &SignedTransaction {
        &self.0
    }

    /// The transaction, for admission.
    pub(super) fn into_inner(self) -> SignedTransaction {
        self.0
    }
}

/// Runs the stateless checks for chain `chain_id`, the signature through `cache`.
pub fn verify(
    tx: SignedTransaction,
    chain_id: ChainId,
    cache: &SignatureCache,
) -> Result<VerifiedTransaction, MempoolError> {
    verify_many(vec![tx], chain_id, cache, 1)
        .pop()
        .unwrap_or(Err(TxError::BadSignature(SignatureError::Mismatch).into()))
}

/// [`verify`] for many transactions, each with its own verdict, in order: the signatures
/// that the cache does not vouch for are checked in batches split across up to `threads`
/// threads (see [`SignatureCache::verify_each`]).
pub fn verify_many(
    txs: Vec<SignedTransaction>,
    chain_id: ChainId,
    cache: &SignatureCache,
    threads: usize,
) -> Vec<Result<VerifiedTransaction, MempoolError>> {
    let fields: Vec<Result<(), MempoolError>> = txs
        .iter()
        .map(|tx| {
            tx.check_fields(chain_id)?;
            check_recipient(&tx.tx().to).map_err(MempoolError::RecipientNotAKey)
        })
        .collect();
    let to_sign: Vec<&SignedTransaction> = txs
        .iter()
        .zip(&fields)
        .filter_map(|(tx, fields)| fields.is_ok().then_some(tx))
        .collect();
    let mut signatures = cache.verify_each(&to_sign, threads).into_iter();
    txs.into_iter()
        .zip(fields)
        .map(|(tx, fields)| {
            fields?;
            // One verdict per transaction sent: a missing one fails closed.
            signatures
                .next()
                .unwrap_or(Err(SignatureError::Mismatch))
                .map_err(TxError::BadSignature)?;
            Ok(VerifiedTransaction(tx))
        })
        .collect()
}
