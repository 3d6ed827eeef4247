//! Why the mempool refuses a transaction, one variant per reason, each carrying what a
//! wallet needs to fix it.

use tern_chain::crypto::RecipientError;
use tern_chain::encoding::DecodeError;
use tern_chain::error::TxError;
use tern_chain::types::Amount;

/// A transaction the mempool refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    /// The bytes are longer than a signed transaction.
    #[error("transaction is {size} bytes, the largest is {max}")]
    TooLarge {
        /// The submitted size.
        size: usize,
        /// The encoded size of a signed transaction.
        max: usize,
    },
    /// The bytes are not a signed transaction.
    #[error("malformed transaction: {0}")]
    Malformed(DecodeError),
    /// It breaks a rule of its own (another chain, `amount + fee` overflowing, a bad
    /// signature): the consensus rule it broke.
    #[error(transparent)]
    Invalid(#[from] TxError),
    /// The recipient is not a key anyone could sign with: the amount would be burnt. A
    /// policy of the pool, not a consensus rule (see `tern_chain::crypto::check_recipient`).
    #[error("{0}; the amount would be lost")]
    RecipientNotAKey(RecipientError),
    /// The same transaction is already pending.
    #[error("transaction already pending")]
    AlreadyKnown,
    /// The nonce was already used on chain.
    #[error("nonce too low: the next nonce is {expected}")]
    NonceTooLow {
        /// The sender's next nonce.
        expected: u64,
    },
    /// The nonce leaves a gap larger than the pool holds.
    #[error("nonce gap: the next nonce is {expected}, at most {max_ahead} ahead are held")]
    NonceGap {
        /// The sender's next nonce, counting pending transactions.
        expected: u64,
        /// How far ahead of it a nonce may be.
        max_ahead: u64,
    },
    /// The sender cannot pay this and its other pending transactions.
    #[error(
        "insufficient funds: the sender has {available} base units, and its pending \
         transactions with this one cost {needed} base units"
    )]
    InsufficientFunds {
        /// The sender's balance at the tip.
        available: Amount,
        /// The cost of all its pending transactions with this one.
        needed: Amount,
    },
    /// The fee is below the pool's current minimum for a transaction of this size.
    #[error("fee too low: the minimum is {minimum}")]
    FeeTooLow {
        /// The lowest acceptable fee now.
        minimum: Amount,
    },
    /// A replacement for a pending transaction must pay a named margin more.
    #[error("replacement fee too low: at least {minimum} is needed")]
    ReplacementUnderpriced {
        /// The lowest fee that would replace the pending transaction.
        minimum: Amount,
    },
    /// The sender has as many pending transactions as one sender may.
    #[error("the sender already has {limit} pending transactions")]
    SenderFull {
        /// Pending transactions allowed per sender.
        limit: usize,
    },
    /// The pool is full of transactions paying at least as much.
    #[error("mempool full: a fee of at least {minimum_fee} is needed")]
    PoolFull {
        /// The fee that would get in now.
        minimum_fee: Amount,
    },
}

impl MempoolError {
    /// A stable name for the reason, for metrics and RPC error data.
    pub fn reason(&self) -> &'static str {
        match self {
            MempoolError::TooLarge { .. } => "too_large",
            MempoolError::Malformed(_) => "malformed",
            MempoolError::Invalid(TxError::WrongChain { .. }) => "wrong_chain",
            MempoolError::Invalid(TxError::AmountPlusFeeOverflow) => "amount_plus_fee_overflow",
            MempoolError::Invalid(TxError::BadSignature(_)) => "bad_signature",
            MempoolError::RecipientNotAKey(_) => "recipient_not_a_key",
            MempoolError::AlreadyKnown => "already_known",
            MempoolError::NonceTooLow { .. } => "nonce_too_low",
            MempoolError::NonceGap { .. } => "nonce_gap",
            MempoolError::InsufficientFunds { .. } => "insufficient_funds",
            MempoolError::FeeTooLow { .. } => "fee_too_low",
            MempoolError::ReplacementUnderpriced { .. } => "replacement_underpriced",
            MempoolError::SenderFull { .. } => "sender_full",
            MempoolError::PoolFull { .. } => "pool_full",
        }
    }

    /// Whether the transaction is invalid on its own, whatever the chain state: a peer
    /// that relays it did not check it, and is banned. Every other reason can happen to an
    /// honest peer through a race (a nonce used meanwhile, a pool that filled up), or is a
    /// policy of this node that a valid block may break (a recipient that is not a key).
    pub fn is_intrinsic(&self) -> bool {
        match self {
            MempoolError::TooLarge { .. }
            | MempoolError::Malformed(_)
            | MempoolError::Invalid(_) => true,
            MempoolError::AlreadyKnown
            | MempoolError::RecipientNotAKey(_)
            | MempoolError::NonceTooLow { .. }
            | MempoolError::NonceGap { .. }
            | MempoolError::InsufficientFunds { .. }
            | MempoolError::FeeTooLow { .. }
            | MempoolError::ReplacementUnderpriced { .. }
            | MempoolError::SenderFull { .. }
            | MempoolError::PoolFull { .. } => false,
        }
    }
}
