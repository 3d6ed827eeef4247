//! The signature rule: byte-level pre-checks, then one cofactored equation for single and
//! batch verification alike.
//!
//! # Why this rule
//!
//! ed25519 implementations disagree on edge cases (Chalkias, Garillot and Nikolaenko,
//! "Taming the many EdDSAs", 2020). The cofactorless equation `[S]B = R + [k]A` and a
//! batch's random linear combination of such equations can give different answers when
//! `A` or `R` has a small-order component, so which signatures a block shared a batch with
//! would decide whether it is valid. Zcash's ZIP 215 closes the gap by checking the
//! cofactored equation `[8][S]B = [8]R + [8][k]A` on both paths: multiplying by 8 kills
//! every small-order component, so the batch equation holds exactly when each single
//! equation does (up to the batch's 2⁻¹²⁸ false accept bound from its random 128-bit
//! coefficients). Single and batch verification then agree by construction, and no
//! subgroup check (two scalar multiplications per signature) is needed.
//!
//! # The rule
//!
//! A signature `(R, S)` by key `A` on message `M` is valid when:
//!
//! 1. `S` is canonical: `S < ℓ`;
//! 2. `A` is a canonical point encoding: its `y` is below `p = 2²⁵⁵ − 19`, and its sign bit
//!    is clear when `x = 0` (`y = 1` or `y = p − 1`); checked on the bytes;
//! 3. `A` is not of small order: not one of the eight canonical encodings of the points of
//!    order dividing 8 (with rule 2, a comparison of bytes). A small-order key would let
//!    anyone sign for it: with `R` the identity and `S = 0` the equation holds for every
//!    message;
//! 4. `R` is a canonical point encoding, as in rule 2;
//! 5. `A` and `R` decode to curve points, and `[8][S]B = [8]R + [8][k]A` with
//!    `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
//!
//! Rules 1 to 4 are Tern's, stricter than ZIP 215 (which accepts non-canonical encodings
//! and small-order keys), and run identically in front of both paths. A mixed-order `A`
//! and a small- or mixed-order `R` are decided by the equation alone. The equation is
//! ZIP 215's as `ed25519-zebra` (the crate Zebra verifies with) computes it, for both
//! paths, built on `curve25519-dalek` in [`super::equation`] so that decoded keys are
//! reused; the tests hold every verdict against `ed25519-zebra`'s. `docs/PROTOCOL.md`
//! states the rule, and the verdict for each class of edge case, for other
//! implementations.
//!
//! # Malleability
//!
//! A third party cannot turn a valid signature into another: `S` must be canonical, both
//! points canonically encoded, and `k` hashes `R`'s bytes, so a changed `R` needs a new
//! `S` that only the key's holder can compute. The signer can, though: any nonce gives a
//! valid signature, and under rule 5 so does a nonce point with a small-order component
//! ([`crate::crypto::SecretKey::sign_with_shifted_nonce`]). One transfer can therefore
//! travel in several valid encodings, which is why a transaction's id does not cover its
//! signature (see [`crate::tx`]).

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;

use super::verdict::{BatchError, SignatureError, SignedMessage};
use super::{equation, Signature};
use crate::types::Address;

/// The canonical encodings of the eight points of order dividing 8: the identity, the
/// point of order 2, two of order 4 and four of order 8. With rule 2 enforced first, a key
/// has small order exactly when its bytes are one of these (a test derives them).
pub(super) const SMALL_ORDER_ENCODINGS: [[u8; 32]; 8] = [
    hex_literal("0100000000000000000000000000000000000000000000000000000000000000"),
    hex_literal("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    hex_literal("0000000000000000000000000000000000000000000000000000000000000080"),
    hex_literal("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    hex_literal("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    hex_literal("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    hex_literal("0000000000000000000000000000000000000000000000000000000000000000"),
    hex_literal("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
];

/// 64 hex digits as 32 bytes, at compile time (a bad literal fails the build).
#[allow(
    clippy::panic,
    clippy::indexing_slicing,
    reason = "evaluated only in constants: a panic here is a compile error"
)]
const fn hex_literal(text: &str) -> [u8; 32] {
    const fn digit(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("not a lower-case hex digit"),
        }
    }
    let text = text.as_bytes();
    assert!(text.len() == 64, "not 64 hex digits");
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = digit(text[2 * i]) << 4 | digit(text[2 * i + 1]);
        i += 1;
    }
    out
}

/// Whether `bytes` is the one encoding of the point it names, if it names one (rules 2
/// and 4), decided on the bytes alone.
pub(super) fn is_canonical_point_encoding(bytes: &[u8; 32]) -> bool {
    let [low, middle @ .., top] = bytes;
    let sign = top >> 7;
    let top = top & 0x7f;
    // y ≥ p = 2²⁵⁵ − 19: every byte but the lowest is at its maximum and the lowest is
    // at least p's (0xed).
    let y_not_reduced = top == 0x7f && middle.iter().all(|&b| b == 0xff) && *low >= 0xed;
    // x = 0 exactly when y = ±1 (1, or p − 1 = 0x7fff…ffec); then x has no sign to give.
    let y_is_one = top == 0 && middle.iter().all(|&b| b == 0) && *low == 0x01;
    let y_is_minus_one = top == 0x7f && middle.iter().all(|&b| b == 0xff) && *low == 0xec;
    !y_not_reduced && !(sign == 1 && (y_is_one || y_is_minus_one))
}

/// Checks rules 1 to 4, which look only at bytes and run in front of both paths.
pub fn check_encoding(key: &Address, signature: &Signature) -> Result<(), SignatureError> {
    if bool::from(Scalar::from_canonical_bytes(signature.s_bytes()).is_none()) {
        return Err(SignatureError::NonCanonicalS);
    }
    if !is_canonical_point_encoding(key.as_bytes()) {
        return Err(SignatureError::NonCanonicalPublicKey);
    }
    if SMALL_ORDER_ENCODINGS.contains(key.as_bytes()) {
        return Err(SignatureError::SmallOrderPublicKey);
    }
    if !is_canonical_point_encoding(&signature.r_bytes()) {
        return Err(SignatureError::NonCanonicalR);
    }
    Ok(())
}

/// Verifies one signature under the rule in the module docs.
pub fn verify(key: &Address, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
    check_encoding(key, signature)?;
    equation::single(equation::key_cache(), key, message, signature)
}

/// A valid signature on `message` by the key with secret scalar `a` (public key
/// `public`), other than the deterministic one: its nonce point carries the small-order
/// component `SMALL_ORDER_ENCODINGS[torsion % 8]` and `S` is computed for it. Rule 5
/// multiplies by 8, so it accepts this as it accepts the plain signature: a signer can
/// spell one transfer in many valid ways (and with random nonces, ed25519 always could).
/// `None` only if a constant failed to decode.
pub(super) fn sign_with_shifted_nonce(
    a: &Scalar,
    public: &[u8; 32],
    message: &[u8],
    torsion: usize,
) -> Option<Signature> {
    use sha2::{Digest, Sha512};
    let wide = |parts: &[&[u8]]| -> Scalar {
        let mut hash = Sha512::new();
        for part in parts {
            hash.update(part);
        }
        Scalar::from_bytes_mod_order_wide(&hash.finalize().into())
    };
    let shift = CompressedEdwardsY(*SMALL_ORDER_ENCODINGS.get(torsion % 8)?).decompress()?;
    let r = wide(&[b"tern/shifted-nonce", a.as_bytes(), message]);
    let nonce_point = (EdwardsPoint::mul_base(&r) + shift).compress().to_bytes();
    let k = wide(&[&nonce_point, public, message]);
    let s = r + k * a;
    let mut bytes = [0u8; 64];
    bytes.get_mut(..32)?.copy_from_slice(&nonce_point);
    bytes.get_mut(32..)?.copy_from_slice(s.as_bytes());
    Some(Signature::from_bytes(bytes))
}

/// Verifies many signatures at once, with exactly the verdict of [`verify`] on each in
/// order: the first one that fails is named. Several times faster per signature than
/// [`verify`] for large batches; when the batch equation fails, each signature is checked
/// alone to find the culprit, so one bad signature costs the others a fallback, not a
/// wrong verdict.
pub fn verify_batch(items: &[SignedMessage<'_>]) -> Result<(), BatchError> {
    // Rules 1 to 4 first: the first item that breaks one ends the batch there, and the
    // items before it decide whether it is the first failure.
    let (checked, encoding_failure) = match items.iter().enumerate().find_map(|(index, item)| {
        check_encoding(item.key, item.signature)
            .err()
            .map(|error| (index, error))
    }) {
        Some((index, error)) => (
            items.get(..index).unwrap_or_default(),
            Some(BatchError { index, error }),
        ),
        None => (items, None),
    };
    equations_hold(checked)?;
    encoding_failure.map_or(Ok(()), Err)
}

/// Rule 5 for items that passed rules 1 to 4: one batch equation, then single checks in
/// order if it fails. A lone item goes straight to the single check, which is the
/// cheaper of the two for one signature (35 µs against 41 µs here: the batch's
/// 256 doublings serve one signature only) and decides the same.
fn equations_hold(items: &[SignedMessage<'_>]) -> Result<(), BatchError> {
    let keys = equation::key_cache();
    if items.is_empty() || (items.len() > 1 && equation::batch_holds(keys, items)) {
        return Ok(());
    }
    for (index, item) in items.iter().enumerate() {
        equation::single(keys, item.key, item.message, item.signature)
            .map_err(|error| BatchError { index, error })?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
