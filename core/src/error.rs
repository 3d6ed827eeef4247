//! The consensus rules, one error variant each.
//!
//! A rejected transaction or block always names the rule it broke. Every variant here has a
//! test that builds a transaction or block breaking exactly that rule.

use crate::crypto::SignatureError;
use crate::types::{
    Amount, BlockHash, ChainId, Height, MerkleRoot, StateRoot, Target, Timestamp, TxId,
};

/// A transaction breaks a rule of its own: it is invalid whatever state it meets, so a peer
/// that relays it did not check it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The transaction is signed for another chain.
    #[error("transaction is for chain {found}, this chain is {expected}")]
    WrongChain {
        /// This chain's id.
        expected: ChainId,
        /// The transaction's chain id.
        found: ChainId,
    },
    /// `amount + fee` does not fit in a `u64`.
    #[error("amount plus fee overflows")]
    AmountPlusFeeOverflow,
    /// The signature does not verify under the sender's key.
    #[error("bad signature: {0}")]
    BadSignature(#[from] SignatureError),
}

/// A transaction cannot apply to the state it meets: valid on its own, it may apply to
/// another state (a later one, or another branch's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxStateError {
    /// The nonce is not the sender's next nonce.
    #[error("nonce {found} is not the sender's next nonce {expected}")]
    NonceMismatch {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        found: u64,
    },
    /// The sender's nonce is `u64::MAX`, so no further transaction can follow it.
    #[error("the sender's nonce is exhausted")]
    NonceExhausted,
    /// The sender cannot pay `amount + fee`.
    #[error("insufficient funds: balance {available}, needed {needed}")]
    InsufficientFunds {
        /// The sender's balance before this transaction.
        available: Amount,
        /// `amount + fee`.
        needed: Amount,
    },
    /// Crediting the recipient would overflow its balance.
    #[error("recipient balance would overflow")]
    RecipientBalanceOverflow,
}

/// Any rule a block's transaction can break: one of its own, or one of the state it meets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxRuleError {
    /// A rule of the transaction's own.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// A rule of the state it meets.
    #[error(transparent)]
    State(#[from] TxStateError),
}

/// A block breaks a consensus rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// The header's version is not one this software validates.
    #[error("unsupported block version {0}")]
    UnsupportedVersion(u32),
    /// The target is easier than the chain allows any block to be.
    #[error("target {found} is easier than the chain's maximum {max}")]
    TargetAboveMaximum {
        /// The header's target.
        found: Target,
        /// The chain spec's `max_target`.
        max: Target,
    },
    /// The header's hash is above its target.
    #[error("header hash {hash} does not meet its target")]
    InsufficientProofOfWork {
        /// The header's hash.
        hash: BlockHash,
    },
    /// The header names a different parent than the block it is checked against.
    #[error("parent {found} is not the expected parent {expected}")]
    WrongParent {
        /// The parent it was checked against.
        expected: BlockHash,
        /// The header's parent field.
        found: BlockHash,
    },
    /// The height is not the parent's height plus one.
    #[error("height {found} should be {expected}")]
    WrongHeight {
        /// The parent's height plus one.
        expected: Height,
        /// The header's height.
        found: Height,
    },
    /// The timestamp is not after the median of the previous eleven blocks.
    #[error("timestamp {timestamp} is not after the median time past {median}")]
    TimestampNotAfterMedian {
        /// The header's timestamp.
        timestamp: Timestamp,
        /// The median of the previous eleven timestamps.
        median: Timestamp,
    },
    /// The timestamp is further ahead of local time than the chain's drift allows.
    #[error("timestamp {timestamp} is after the latest allowed {latest}")]
    TimestampTooFarInFuture {
        /// The header's timestamp.
        timestamp: Timestamp,
        /// Local time plus the allowed drift.
        latest: Timestamp,
    },
    /// The target is not what the difficulty rule requires at this point of the chain.
    #[error("target {found} should be {expected}")]
    WrongTarget {
        /// The target the difficulty rule gives.
        expected: Target,
        /// The header's target.
        found: Target,
    },
    /// The Merkle root does not commit to the block's transactions.
    #[error("merkle root {found} does not match the transactions' root {computed}")]
    MerkleRootMismatch {
        /// The root computed from the transactions.
        computed: MerkleRoot,
        /// The header's root.
        found: MerkleRoot,
    },
    /// The block's encoding is larger than the chain allows.
    #[error("block is {size} bytes, the limit is {max}")]
    TooLarge {
        /// The encoded size.
        size: u64,
        /// The chain's limit.
        max: u64,
    },
    /// The block holds more transactions than the chain allows.
    #[error("block has {count} transactions, the limit is {max}")]
    TooManyTransactions {
        /// The number of transactions.
        count: u64,
        /// The chain's limit.
        max: u64,
    },
    /// The same transaction appears twice.
    #[error("transaction {0} appears twice")]
    DuplicateTransaction(TxId),
    /// Two transactions share a sender and nonce (only one of them could ever apply).
    #[error("transactions {first} and {second} share a sender and nonce")]
    DuplicateSenderNonce {
        /// The earlier transaction.
        first: TxId,
        /// The later transaction.
        second: TxId,
    },
    /// A transaction breaks a rule.
    #[error("transaction {index} ({id}): {error}")]
    Transaction {
        /// Its position in the block.
        index: usize,
        /// Its id.
        id: TxId,
        /// The rule it broke.
        error: TxRuleError,
    },
    /// Paying the miner the reward plus fees would overflow its balance or the total
    /// of fees.
    #[error("miner reward plus fees overflows")]
    MinerCreditOverflow,
    /// The header's state root is not the root of the accounts the block leaves.
    #[error("state root {found} is not the root {computed} of the state the block leaves")]
    BadStateRoot {
        /// The root of the state after the block, as this node computed it.
        computed: StateRoot,
        /// The header's root.
        found: StateRoot,
    },
}
