//! Block validation: the context-free body rules, the header rules that need the parent,
//! and signature verification, each callable alone so the node can run them where they
//! belong (cheap checks on arrival, signatures off the async threads, state rules in the
//! chain actor via [`crate::state::apply_block`]).
//!
//! Checks run cheapest first. Proof of work comes before everything else: it is one hash
//! to check and costly to fake, so junk is turned away before any other work.

use std::collections::HashSet;

use crate::block::{Block, Header, BLOCK_VERSION};
use crate::error::{BlockError, TxError};
use crate::genesis::ConsensusParams;
use crate::pow;
use crate::signature_cache::SignatureCache;
use crate::types::{BlockHash, Height, Timestamp};

/// What the chain knows about a block's parent, which the header rules need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentContext {
    /// The parent's hash.
    pub hash: BlockHash,
    /// The parent's height.
    pub height: Height,
    /// The parent's timestamp.
    pub timestamp: Timestamp,
    /// The median of the timestamps of the parent and up to ten of its ancestors.
    pub median_time_past: Timestamp,
}

/// Checks what a header proves alone: a known version, a target no easier than the chain
/// allows, and a hash that meets it. Needs no parent, so it runs first on anything
/// received, orphans included: with the target capped, passing it always costs real work.
pub fn check_proof_of_work(header: &Header, params: &ConsensusParams) -> Result<(), BlockError> {
    if header.version != BLOCK_VERSION {
        return Err(BlockError::UnsupportedVersion(header.version));
    }
    if header.target > params.max_target {
        return Err(BlockError::TargetAboveMaximum {
            found: header.target,
            max: params.max_target,
        });
    }
    let hash = header.hash();
    if !header.target.is_met_by(&hash) {
        return Err(BlockError::InsufficientProofOfWork { hash });
    }
    Ok(())
}

/// Checks every header rule against the parent: version and proof of work, parent link,
/// height, timestamps (after the median time past, at most `now` plus the drift), and the
/// target the difficulty rule requires.
pub fn check_header(
    header: &Header,
    parent: &ParentContext,
    params: &ConsensusParams,
    now: Timestamp,
) -> Result<(), BlockError> {
    check_proof_of_work(header, params)?;
    if header.parent != parent.hash {
        return Err(BlockError::WrongParent {
            expected: parent.hash,
            found: header.parent,
        });
    }
    let expected_height = parent.height.next().ok_or(BlockError::WrongHeight {
        expected: parent.height,
        found: header.height,
    })?;
    if header.height != expected_height {
        return Err(BlockError::WrongHeight {
            expected: expected_height,
            found: header.height,
        });
    }
    if header.timestamp <= parent.median_time_past {
        return Err(BlockError::TimestampNotAfterMedian {
            timestamp: header.timestamp,
            median: parent.median_time_past,
        });
    }
    let latest = Timestamp(now.as_millis().saturating_add(params.max_future_drift_ms));
    if header.timestamp > latest {
        return Err(BlockError::TimestampTooFarInFuture {
            timestamp: header.timestamp,
            latest,
        });
    }
    let expected = pow::next_target(&params.difficulty(), parent.height, parent.timestamp);
    if header.target != expected {
        return Err(BlockError::WrongTarget {
            expected,
            found: header.target,
        });
    }
    Ok(())
}

/// Checks the body rules that need neither state nor signatures: Merkle root, transaction
/// count, size, no duplicate transaction, no two transactions with the same sender and
/// nonce, and each transaction's chain id and `amount + fee`.
pub fn check_body(block: &Block, params: &ConsensusParams) -> Result<(), BlockError> {
    // The Merkle root first: until it matches, the transactions may be a tampered copy of
    // a valid block's, and no later rule may be blamed on the header. After it, every
    // failure is the block's own (see `Chain`, which marks such blocks invalid).
    let computed = block.computed_merkle_root();
    if computed != block.header.merkle_root {
        return Err(BlockError::MerkleRootMismatch {
            computed,
            found: block.header.merkle_root,
        });
    }
    let count = block.transactions.len() as u64;
    if count > params.max_block_transactions {
        return Err(BlockError::TooManyTransactions {
            count,
            max: params.max_block_transactions,
        });
    }
    let size = block.encoded_len();
    if size > params.max_block_bytes {
        return Err(BlockError::TooLarge {
            size,
            max: params.max_block_bytes,
        });
    }
    let mut seen_ids = HashSet::with_capacity(block.transactions.len());
    let mut seen_nonces = std::collections::HashMap::with_capacity(block.transactions.len());
    for (index, signed) in block.transactions.iter().enumerate() {
        let id = signed.id();
        if !seen_ids.insert(id) {
            return Err(BlockError::DuplicateTransaction(id));
        }
        if let Some(first) = seen_nonces.insert((signed.tx().from, signed.tx().nonce), id) {
            return Err(BlockError::DuplicateSenderNonce { first, second: id });
        }
        signed
            .check_fields(params.chain_id)
            .map_err(|error| BlockError::Transaction {
                index,
                id,
                error: error.into(),
            })?;
    }
    Ok(())
}

/// Verifies every transaction signature that `cache` does not already vouch for, split
/// across up to `threads` threads, with the verdict of checking each alone in block order:
/// the error names the first bad transaction. CPU-heavy: the node calls it off the async
/// threads. A cold cache changes the cost, never the verdict (see [`SignatureCache`]).
pub fn verify_signatures(
    block: &Block,
    cache: &SignatureCache,
    threads: usize,
) -> Result<(), BlockError> {
    let txs = &block.transactions;
    cache.verify_signatures(txs, threads).map_err(|failure| {
        let id = txs.get(failure.index).map(|t| t.id()).unwrap_or_default();
        BlockError::Transaction {
            index: failure.index,
            id,
            error: TxError::BadSignature(failure.error).into(),
        }
    })
}

/// Every rule that does not need account state: [`check_header`], [`check_body`], then
/// [`verify_signatures`] with a cold cache, on this thread.
pub fn check_block(
    block: &Block,
    parent: &ParentContext,
    params: &ConsensusParams,
    now: Timestamp,
) -> Result<(), BlockError> {
    check_header(&block.header, parent, params, now)?;
    check_body(block, params)?;
    // A one-entry cache: nothing to remember beyond this call.
    verify_signatures(block, &SignatureCache::new(std::num::NonZeroUsize::MIN), 1)
}

#[cfg(test)]
#[path = "validation_tests.rs"]
mod tests;
