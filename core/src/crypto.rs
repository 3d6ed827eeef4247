//! Keys and ed25519 signatures, with one verification rule for single and batch checks.
//!
//! # The verification rule
//!
//! ed25519 implementations disagree on edge cases (Chalkias, Garillot and Nikolaenko,
//! "Taming the many EdDSAs", 2020). In particular ed25519-dalek's `verify_strict` and its
//! `verify_batch` can disagree when the public key `A` or the signature's `R` has a
//! small-order component, and the batch accepts a non-canonical encoding of `R`. Whether a
//! block is valid must never depend on how its signatures were grouped, so before either
//! path runs, every signature must pass [`check_encoding`]:
//!
//! 1. `S` is a canonical scalar (`S < ℓ`);
//! 2. `A` and `R` are canonical encodings of curve points (decoding and re-encoding gives
//!    the same 32 bytes);
//! 3. `A` and `R` have exact order ℓ: not of small order, and with no small-order
//!    component (`[ℓ]P` is the identity).
//!
//! With every point in the prime-order subgroup, the cofactorless equation
//! `[S]B = R + [k]A` that `verify_strict` checks and the random linear combination that
//! `verify_batch` checks accept exactly the same signatures (up to the batch's 2⁻¹²⁸ false
//! accept bound), and [`verify_batch`] falls back to single checks whenever the batch
//! fails, so its verdict is always the single-check verdict. `docs/PROTOCOL.md` states the
//! rule for other implementations.

use std::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::types::Address;

/// An ed25519 signature: `R` (32 bytes) then `S` (32 bytes, little-endian scalar).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature([u8; 64]);

impl Signature {
    /// Wraps 64 bytes as a signature; nothing is checked until verification.
    pub const fn from_bytes(bytes: [u8; 64]) -> Signature {
        Signature(bytes)
    }

    /// The 64 bytes.
    pub const fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    fn r_bytes(&self) -> [u8; 32] {
        let mut r = [0u8; 32];
        r.copy_from_slice(&self.0[..32]);
        r
    }

    fn s_bytes(&self) -> [u8; 32] {
        let mut s = [0u8; 32];
        s.copy_from_slice(&self.0[32..]);
        s
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

/// A secret signing key. Its `Debug` form never shows the secret.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key whose 32-byte ed25519 seed is `seed`.
    pub fn from_bytes(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The 32-byte seed. Handle with care.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The account address (public key) of this key.
    pub fn address(&self) -> Address {
        Address::from_bytes(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (deterministic, RFC 8032).
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<secret> for {:?})", self.address())
    }
}

/// The domain tag for development account seeds.
const DEV_SEED_TAG: &[u8] = b"tern/dev-account/v1";

/// The secret key of development account `index`: its seed is
/// `SHA-256("tern/dev-account/v1" || index as u32 little-endian)`.
///
/// These keys are public knowledge, like anvil's well-known accounts: the dev chain spec
/// funds them so wallets and tests work out of the box. Never use them on a real network.
pub fn dev_secret_key(index: u32) -> SecretKey {
    let seed: [u8; 32] = Sha256::new()
        .chain_update(DEV_SEED_TAG)
        .chain_update(index.to_le_bytes())
        .finalize()
        .into();
    SecretKey::from_bytes(seed)
}

/// Why a signature is not valid, one variant per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// `S` is not below the group order ℓ (a malleated signature).
    #[error("signature scalar S is not canonical")]
    NonCanonicalS,
    /// The public key is not a canonical encoding of a curve point.
    #[error("public key is not a canonical curve point")]
    InvalidPublicKey,
    /// The public key has small order or a small-order component.
    #[error("public key is not in the prime-order subgroup")]
    PublicKeyNotPrimeOrder,
    /// `R` is not a canonical encoding of a curve point.
    #[error("signature point R is not a canonical curve point")]
    InvalidR,
    /// `R` has small order or a small-order component.
    #[error("signature point R is not in the prime-order subgroup")]
    RNotPrimeOrder,
    /// The verification equation does not hold: wrong key, message or signature.
    #[error("signature does not verify")]
    Mismatch,
}

/// Rejects a point encoding that is not canonical or not of exact order ℓ.
fn prime_order_point(
    bytes: [u8; 32],
    invalid: SignatureError,
    not_prime_order: SignatureError,
) -> Result<EdwardsPoint, SignatureError> {
    let point = CompressedEdwardsY(bytes).decompress().ok_or(invalid)?;
    if point.compress().to_bytes() != bytes {
        return Err(invalid);
    }
    // [ℓ]P = [ℓ-1]P + P, computed in variable time: every input here is public.
    let l_times_point =
        EdwardsPoint::vartime_double_scalar_mul_basepoint(&-Scalar::ONE, &point, &Scalar::ZERO)
            + point;
    if point.is_small_order() || !l_times_point.is_identity() {
        return Err(not_prime_order);
    }
    Ok(point)
}

/// Checks the encoding rules (1 to 3 in the module docs) that both verification paths
/// require, returning the verifying key.
pub fn check_encoding(
    key: &Address,
    signature: &Signature,
) -> Result<VerifyingKey, SignatureError> {
    if bool::from(Scalar::from_canonical_bytes(signature.s_bytes()).is_none()) {
        return Err(SignatureError::NonCanonicalS);
    }
    prime_order_point(
        *key.as_bytes(),
        SignatureError::InvalidPublicKey,
        SignatureError::PublicKeyNotPrimeOrder,
    )?;
    prime_order_point(
        signature.r_bytes(),
        SignatureError::InvalidR,
        SignatureError::RNotPrimeOrder,
    )?;
    VerifyingKey::from_bytes(key.as_bytes()).map_err(|_| SignatureError::InvalidPublicKey)
}

/// Verifies one signature under the rule in the module docs.
pub fn verify(key: &Address, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
    let verifying_key = check_encoding(key, signature)?;
    verifying_key
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&signature.0))
        .map_err(|_| SignatureError::Mismatch)
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

/// Verifies many signatures at once, about twice as fast per signature as [`verify`] for
/// large batches, with exactly [`verify`]'s verdict: if the batch equation fails, each
/// signature is checked alone to name the first bad one.
pub fn verify_batch(items: &[SignedMessage<'_>]) -> Result<(), BatchError> {
    let mut keys = Vec::with_capacity(items.len());
    let mut signatures = Vec::with_capacity(items.len());
    let mut messages = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match check_encoding(item.key, item.signature) {
            Ok(key) => keys.push(key),
            // An earlier signature may break the equation: report the first failure, as
            // single checks in order would.
            Err(error) => {
                return first_failure(items.get(..index).unwrap_or_default())
                    .and(Err(BatchError { index, error }))
            }
        }
        signatures.push(ed25519_dalek::Signature::from_bytes(&item.signature.0));
        messages.push(item.message);
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        return Ok(());
    }
    first_failure(items)
}

/// Checks `items` one by one, in order.
fn first_failure(items: &[SignedMessage<'_>]) -> Result<(), BatchError> {
    for (index, item) in items.iter().enumerate() {
        verify(item.key, item.message, item.signature)
            .map_err(|error| BatchError { index, error })?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "crypto_tests.rs"]
mod tests;
