//! What a signature check is given and what it answers: the message and key a signature
//! is checked against ([`SignedMessage`]) and, one variant per rule, why it fails
//! ([`SignatureError`], [`BatchError`]). Apart from [`super::rule`], which applies the
//! rules, and [`super::equation`], which computes the equation the rule names, so that
//! neither needs the other's types.

use super::Signature;
use crate::types::Address;

/// Why a signature is not valid, one variant per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Rule 1: `S` is not below the group order ℓ.
    #[error("signature scalar S is not canonical")]
    NonCanonicalS,
    /// Rule 2: the public key's bytes are not a canonical point encoding.
    #[error("public key is not a canonical point encoding")]
    NonCanonicalPublicKey,
    /// Rule 3: the public key is one of the eight points of small order.
    #[error("public key has small order")]
    SmallOrderPublicKey,
    /// Rule 4: `R`'s bytes are not a canonical point encoding.
    #[error("signature point R is not a canonical point encoding")]
    NonCanonicalR,
    /// Rule 5: the public key's `y` has no point on the curve.
    #[error("public key is not a curve point")]
    PublicKeyNotOnCurve,
    /// Rule 5: `R`'s `y` has no point on the curve.
    #[error("signature point R is not a curve point")]
    RNotOnCurve,
    /// Rule 5: the equation does not hold: wrong key, message or signature.
    #[error("signature does not verify")]
    Mismatch,
}

impl SignatureError {
    /// A stable snake-case name for the rule, for RPC errors and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::NonCanonicalS => "non_canonical_s",
            SignatureError::NonCanonicalPublicKey => "non_canonical_public_key",
            SignatureError::SmallOrderPublicKey => "small_order_public_key",
            SignatureError::NonCanonicalR => "non_canonical_r",
            SignatureError::PublicKeyNotOnCurve => "public_key_not_on_curve",
            SignatureError::RNotOnCurve => "r_not_on_curve",
            SignatureError::Mismatch => "mismatch",
        }
    }
}

/// One signature to check in a batch.
#[derive(Debug, Clone, Copy)]
pub struct SignedMessage<'a> {
    /// The signer's public key.
    pub key: &'a Address,
    /// The exact bytes that were signed.
    pub message: &'a [u8],
    /// The signature.
    pub signature: &'a Signature,
}

/// The first signature of a batch that fails, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("signature {index} of the batch: {error}")]
pub struct BatchError {
    /// Its position in the batch.
    pub index: usize,
    /// The rule it broke.
    pub error: SignatureError,
}
