//! Edge cases of the signature rule, each checked through both paths.

use super::*;
use crate::crypto::equation::{self, KeyCache, KEY_CACHE_ENTRIES};
use crate::crypto::{dev_secret_key, SecretKey};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::traits::IsIdentity;
use ed25519_zebra::VerificationKey;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha512};

const MESSAGE: &[u8] = b"tern test message";

/// The eight points of small order, as multiples of a point of order 8.
fn eight_torsion() -> [EdwardsPoint; 8] {
    let generator = CompressedEdwardsY(SMALL_ORDER_ENCODINGS[1])
        .decompress()
        .unwrap();
    assert!(!(generator * Scalar::from(4u8)).is_identity());
    assert!((generator * Scalar::from(8u8)).is_identity());
    std::array::from_fn(|i| generator * Scalar::from(i as u64))
}

/// Checks `signature` alone and in a batch (between two valid signatures), and insists the
/// two paths agree.
fn both_paths(key: &Address, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
    let single = verify(key, message, signature);
    let honest = dev_secret_key(0);
    let honest_key = honest.address();
    let honest_signature = honest.sign(MESSAGE);
    let honest_item = SignedMessage {
        key: &honest_key,
        message: MESSAGE,
        signature: &honest_signature,
    };
    let batch = verify_batch(&[
        honest_item,
        SignedMessage {
            key,
            message,
            signature,
        },
        honest_item,
    ]);
    match (&single, batch) {
        (Ok(()), Ok(())) => {}
        (
            Err(error),
            Err(BatchError {
                index: 1,
                error: batch_error,
            }),
        ) => {
            assert_eq!(*error, batch_error, "paths name different rules")
        }
        (single, batch) => panic!("single {single:?} and batch {batch:?} disagree"),
    }
    single
}

fn zebra_signature(signature: &Signature) -> ed25519_zebra::Signature {
    ed25519_zebra::Signature::from_bytes(signature.as_bytes())
}

/// What ZIP 215 alone (ed25519-zebra, without Tern's pre-checks) says.
fn zip215(key: &Address, message: &[u8], signature: &Signature) -> bool {
    VerificationKey::try_from(*key.as_bytes())
        .and_then(|key| key.verify(&zebra_signature(signature), message))
        .is_ok()
}

fn challenge(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(message)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

fn signature_of(r: &[u8; 32], s: &Scalar) -> Signature {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s.as_bytes());
    Signature::from_bytes(sig)
}

/// Signs by hand with secret scalar `a`, nonce `r`, and arbitrary public points: this is how
/// an attacker crafts signatures for keys or `R` values a real signer would never produce.
fn craft(
    a: Scalar,
    r: Scalar,
    public: EdwardsPoint,
    nonce_point: EdwardsPoint,
    message: &[u8],
) -> (Address, Signature) {
    let a_bytes = public.compress().to_bytes();
    let r_bytes = nonce_point.compress().to_bytes();
    let s = r + challenge(&r_bytes, &a_bytes, message) * a;
    (Address::from_bytes(a_bytes), signature_of(&r_bytes, &s))
}

/// `bytes` with the sign bit (of `x`) set.
fn with_sign_bit(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes[31] |= 0x80;
    bytes
}

/// `y` as a little-endian encoding with the sign bit clear; `y` below 2²⁵⁵.
fn y_encoding(low: u8, rest: u8, top: u8) -> [u8; 32] {
    let mut bytes = [rest; 32];
    bytes[0] = low;
    bytes[31] = top;
    bytes
}

/// Every encoding whose `y` is at least `p` (19 values, each with both sign bits), and the
/// two "negative zero" encodings of `x = 0` (`y = 1` and `y = p − 1` with the sign bit).
fn non_canonical_encodings() -> Vec<[u8; 32]> {
    let mut all: Vec<[u8; 32]> = (0xedu8..=0xff)
        .map(|low| y_encoding(low, 0xff, 0x7f))
        .flat_map(|e| [e, with_sign_bit(e)])
        .collect();
    all.push(with_sign_bit(SMALL_ORDER_ENCODINGS[0]));
    all.push(with_sign_bit(SMALL_ORDER_ENCODINGS[4]));
    all
}

#[test]
fn the_small_order_encodings_are_exactly_the_eight_torsion_points() {
    let mut seen = std::collections::HashSet::new();
    for bytes in SMALL_ORDER_ENCODINGS {
        let point = CompressedEdwardsY(bytes).decompress().unwrap();
        assert_eq!(point.compress().to_bytes(), bytes, "canonical");
        assert!(point.is_small_order(), "{}", hex::encode(bytes));
        assert!(seen.insert(bytes));
    }
    // The torsion subgroup has exactly eight elements, so eight distinct ones are all.
    assert_eq!(seen.len(), 8);
    for point in eight_torsion() {
        assert!(seen.contains(&point.compress().to_bytes()));
    }
}

#[test]
fn canonical_encodings_are_told_by_their_bytes_as_decoding_would() {
    let non_canonical = non_canonical_encodings();
    assert_eq!(non_canonical.len(), 40);
    for bytes in &non_canonical {
        assert!(
            !is_canonical_point_encoding(bytes),
            "{}",
            hex::encode(bytes)
        );
        if let Some(point) = CompressedEdwardsY(*bytes).decompress() {
            assert_ne!(point.compress().to_bytes(), *bytes);
        }
    }
    // The edges just inside: y = p − 1 and y = p − 2, y = 0 and 1, both signs where x ≠ 0.
    for bytes in [
        SMALL_ORDER_ENCODINGS[4],
        y_encoding(0xeb, 0xff, 0x7f),
        SMALL_ORDER_ENCODINGS[6],
        SMALL_ORDER_ENCODINGS[2],
        SMALL_ORDER_ENCODINGS[0],
    ] {
        assert!(
            is_canonical_point_encoding(&bytes),
            "{}",
            hex::encode(bytes)
        );
    }
}

#[test]
fn honest_signatures_verify_and_tampering_does_not() {
    let key = dev_secret_key(1);
    let signature = key.sign(MESSAGE);
    assert_eq!(both_paths(&key.address(), MESSAGE, &signature), Ok(()));
    assert_eq!(
        both_paths(&key.address(), b"other", &signature),
        Err(SignatureError::Mismatch)
    );
    assert_eq!(
        both_paths(&dev_secret_key(2).address(), MESSAGE, &signature),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn non_canonical_s_is_rejected() {
    let key = dev_secret_key(1);
    let mut bytes = *key.sign(MESSAGE).as_bytes();
    // S + ℓ: the same scalar mod ℓ, a second encoding of the same signature.
    let l = (-Scalar::ONE).to_bytes();
    let mut carry = 1u16; // ℓ = (ℓ - 1) + 1
    for i in 0..32 {
        let sum = u16::from(bytes[32 + i]) + u16::from(l[i]) + carry;
        bytes[32 + i] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0, "S + ℓ fits in 256 bits for every canonical S");
    assert_eq!(
        both_paths(&key.address(), MESSAGE, &Signature::from_bytes(bytes)),
        Err(SignatureError::NonCanonicalS)
    );
}

/// ZIP 215's own edge cases (ed25519-consensus and Zebra test them): `S = 0` and every
/// pairing of a small-order `A` and `R`, in all 14 encodings (the eight canonical ones and
/// six non-canonical), for which the cofactored equation holds for any message. ZIP 215
/// accepts all 196; Tern refuses each by the rule it breaks first.
#[test]
fn small_order_keys_and_non_canonical_small_order_encodings_are_refused() {
    let unreduced = [
        y_encoding(0xed, 0xff, 0x7f), // y = p, which is 0
        y_encoding(0xee, 0xff, 0x7f), // y = p + 1, which is 1
    ];
    let encodings: Vec<[u8; 32]> = SMALL_ORDER_ENCODINGS
        .into_iter()
        .chain(unreduced)
        .chain(unreduced.map(with_sign_bit))
        .chain([
            with_sign_bit(SMALL_ORDER_ENCODINGS[0]),
            with_sign_bit(SMALL_ORDER_ENCODINGS[4]),
        ])
        .collect();
    assert_eq!(encodings.len(), 14);
    for a in &encodings {
        for r in &encodings {
            let key = Address::from_bytes(*a);
            let signature = signature_of(r, &Scalar::ZERO);
            assert!(zip215(&key, b"Zcash", &signature), "ZIP 215 accepts");
            let expected = if !is_canonical_point_encoding(a) {
                SignatureError::NonCanonicalPublicKey
            } else {
                SignatureError::SmallOrderPublicKey
            };
            assert_eq!(both_paths(&key, b"Zcash", &signature), Err(expected));
        }
    }
}

#[test]
fn mixed_order_keys_are_decided_by_the_equation_alone() {
    let a = Scalar::from(0x1234_5678u64);
    let r = Scalar::from(0x9abc_def0u64);
    for torsion in &eight_torsion()[1..] {
        let public = EdwardsPoint::mul_base(&a) + torsion;
        // Signed with the prime-order part's secret: [8] removes the torsion component.
        let (key, signature) = craft(a, r, public, EdwardsPoint::mul_base(&r), MESSAGE);
        assert_eq!(both_paths(&key, MESSAGE, &signature), Ok(()));
        assert_eq!(
            both_paths(&key, b"other", &signature),
            Err(SignatureError::Mismatch)
        );
        // Signed with another secret: refused like any wrong signature.
        let (_, forged) = craft(
            a + Scalar::ONE,
            r,
            public,
            EdwardsPoint::mul_base(&r),
            MESSAGE,
        );
        assert_eq!(
            both_paths(&key, MESSAGE, &forged),
            Err(SignatureError::Mismatch)
        );
    }
}

#[test]
fn small_and_mixed_order_r_are_decided_by_the_equation_alone() {
    let a = Scalar::from(77u64);
    let r = Scalar::from(99u64);
    let public = EdwardsPoint::mul_base(&a);
    for torsion in eight_torsion() {
        let (key, signature) = craft(a, r, public, EdwardsPoint::mul_base(&r) + torsion, MESSAGE);
        assert_eq!(both_paths(&key, MESSAGE, &signature), Ok(()));
        // R of small order: S = k·a satisfies the cofactored equation.
        let (key, signature) = craft(a, Scalar::ZERO, public, torsion, MESSAGE);
        assert_eq!(both_paths(&key, MESSAGE, &signature), Ok(()));
        let (key, signature) = craft(a, Scalar::ONE, public, torsion, MESSAGE);
        assert_eq!(
            both_paths(&key, MESSAGE, &signature),
            Err(SignatureError::Mismatch)
        );
    }
}

/// A third party cannot re-encode a signature: shifting `R` by a small-order point
/// changes `k`, so the equation fails.
#[test]
fn a_signature_shifted_by_anyone_but_the_signer_fails() {
    let key = dev_secret_key(4);
    let signature = key.sign(MESSAGE);
    let r = CompressedEdwardsY(signature.r_bytes())
        .decompress()
        .unwrap();
    for torsion in &eight_torsion()[1..] {
        let mut shifted = *signature.as_bytes();
        shifted[..32].copy_from_slice(&(r + torsion).compress().to_bytes());
        assert_eq!(
            both_paths(&key.address(), MESSAGE, &Signature::from_bytes(shifted)),
            Err(SignatureError::Mismatch)
        );
    }
}

/// The signer can: a nonce point with any small-order component gives a valid signature,
/// a different encoding of the same signed message.
#[test]
fn a_signer_can_spell_one_message_in_several_valid_signatures() {
    let key = dev_secret_key(4);
    let mut seen = std::collections::HashSet::from([key.sign(MESSAGE)]);
    for torsion in 0..8 {
        let signature = key.sign_with_shifted_nonce(MESSAGE, torsion).unwrap();
        assert_eq!(both_paths(&key.address(), MESSAGE, &signature), Ok(()));
        let r = CompressedEdwardsY(signature.r_bytes())
            .decompress()
            .unwrap();
        assert_eq!(r.is_torsion_free(), torsion == 0, "torsion {torsion}");
        assert!(seen.insert(signature), "a new encoding");
    }
}

#[test]
fn non_canonical_and_off_curve_r_and_keys_are_refused() {
    let key = dev_secret_key(3);
    let honest = key.sign(MESSAGE);
    for encoding in non_canonical_encodings() {
        let mut sig = *honest.as_bytes();
        sig[..32].copy_from_slice(&encoding);
        assert_eq!(
            both_paths(&key.address(), MESSAGE, &Signature::from_bytes(sig)),
            Err(SignatureError::NonCanonicalR)
        );
        assert_eq!(
            both_paths(&Address::from_bytes(encoding), MESSAGE, &honest),
            Err(SignatureError::NonCanonicalPublicKey)
        );
    }
    // A y with no point on the curve.
    let off_curve = y_encoding(2, 0, 0);
    assert!(CompressedEdwardsY(off_curve).decompress().is_none());
    assert_eq!(
        both_paths(&Address::from_bytes(off_curve), MESSAGE, &honest),
        Err(SignatureError::PublicKeyNotOnCurve)
    );
    let mut sig = *honest.as_bytes();
    sig[..32].copy_from_slice(&off_curve);
    assert_eq!(
        both_paths(&key.address(), MESSAGE, &Signature::from_bytes(sig)),
        Err(SignatureError::RNotOnCurve)
    );
}

#[test]
fn a_batch_names_the_first_failure_whichever_rule_it_broke() {
    let keys: Vec<SecretKey> = (0..4).map(dev_secret_key).collect();
    let addresses: Vec<Address> = keys.iter().map(SecretKey::address).collect();
    let signatures: Vec<Signature> = keys.iter().map(|k| k.sign(MESSAGE)).collect();
    let mut bad_s = *signatures[3].as_bytes();
    bad_s[63] = 0xff;
    let bad_s = Signature::from_bytes(bad_s);
    let item = |i: usize, signature| SignedMessage {
        key: &addresses[i],
        message: MESSAGE,
        signature,
    };
    // A wrong signature before an encoding failure is the first failure.
    assert_eq!(
        verify_batch(&[
            item(0, &signatures[0]),
            item(1, &signatures[2]),
            item(3, &bad_s),
        ]),
        Err(BatchError {
            index: 1,
            error: SignatureError::Mismatch
        })
    );
    assert_eq!(
        verify_batch(&[
            item(0, &signatures[0]),
            item(3, &bad_s),
            item(1, &signatures[2]),
        ]),
        Err(BatchError {
            index: 1,
            error: SignatureError::NonCanonicalS
        })
    );
    assert_eq!(verify_batch(&[]), Ok(()));
}

/// A point with a random prime-order part and a random small-order part, and its scalar.
fn mixed_point(seed: u64, torsion: usize) -> (Scalar, EdwardsPoint) {
    let scalar = Scalar::from(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (
        scalar,
        EdwardsPoint::mul_base(&scalar) + eight_torsion()[torsion % 8],
    )
}

/// Signatures crafted from `(key seed, key torsion, nonce seed, nonce torsion, honest)`:
/// mixed-order keys and nonce points, signed with the key's secret when `honest` and with
/// a wrong one otherwise.
fn crafted_mixed(cases: &[(u64, usize, u64, usize, bool)]) -> Vec<(Address, Signature)> {
    cases
        .iter()
        .map(|&(a_seed, a_torsion, r_seed, r_torsion, honest)| {
            let (a, public) = mixed_point(a_seed, a_torsion);
            let (r, nonce_point) = mixed_point(r_seed, r_torsion);
            let secret = if honest { a } else { a + Scalar::ONE };
            craft(secret, r, public, nonce_point, MESSAGE)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// A batch's verdict is always the verdict of checking its signatures one by one.
    #[test]
    fn batch_and_single_agree(corruptions in proptest::collection::vec((any::<bool>(), 0usize..96, any::<u8>()), 1..12)) {
        let keys: Vec<SecretKey> = (0..corruptions.len() as u32).map(dev_secret_key).collect();
        let addresses: Vec<Address> = keys.iter().map(SecretKey::address).collect();
        let mut signatures: Vec<Signature> = keys.iter().map(|k| k.sign(MESSAGE)).collect();
        let mut messages: Vec<Vec<u8>> = vec![MESSAGE.to_vec(); keys.len()];
        for (i, (corrupt, at, xor)) in corruptions.iter().enumerate() {
            if *corrupt && *xor != 0 {
                if *at < 64 {
                    let mut bytes = *signatures[i].as_bytes();
                    bytes[*at] ^= xor;
                    signatures[i] = Signature::from_bytes(bytes);
                } else {
                    messages[i][(*at - 64) % MESSAGE.len()] ^= xor;
                }
            }
        }
        let items: Vec<SignedMessage<'_>> = (0..keys.len())
            .map(|i| SignedMessage { key: &addresses[i], message: &messages[i], signature: &signatures[i] })
            .collect();
        let expected = items
            .iter()
            .enumerate()
            .find_map(|(index, item)| verify(item.key, item.message, item.signature).err().map(|error| BatchError { index, error }));
        prop_assert_eq!(verify_batch(&items).err(), expected);
    }

    /// Random mixed-order keys and nonce points, signed with the right or a wrong secret:
    /// both paths agree on every one, and agree with ZIP 215 wherever the pre-checks pass.
    #[test]
    fn mixed_order_inputs_get_one_verdict(
        cases in proptest::collection::vec((any::<u64>(), 0usize..8, any::<u64>(), 0usize..8, any::<bool>()), 1..8)
    ) {
        let crafted = crafted_mixed(&cases);
        let items: Vec<SignedMessage<'_>> = crafted
            .iter()
            .map(|(key, signature)| SignedMessage { key, message: MESSAGE, signature })
            .collect();
        let mut expected = Ok(());
        for (index, (key, signature)) in crafted.iter().enumerate() {
            let single = both_paths(key, MESSAGE, signature);
            prop_assert_eq!(single.is_ok(), zip215(key, MESSAGE, signature));
            prop_assert_eq!(single.is_ok(), cases[index].4);
            if let (Ok(()), Err(error)) = (expected, single) {
                expected = Err(BatchError { index, error });
            }
        }
        prop_assert_eq!(verify_batch(&items), expected);
    }
}

/// ed25519-zebra's batch verdict on `items`: the reference for Tern's batch equation.
fn zebra_batch(items: &[SignedMessage<'_>]) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for item in items {
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(*item.key.as_bytes()),
            zebra_signature(item.signature),
            item.message,
        ));
    }
    batch
        .verify(rand_chacha::ChaCha20Rng::from_seed([3; 32]))
        .is_ok()
}

#[test]
fn the_key_cache_keeps_at_most_its_bound_and_only_points() {
    let keys = KeyCache::new(std::num::NonZeroUsize::new(2).unwrap());
    for i in 0..3 {
        let key = dev_secret_key(i);
        let address = key.address();
        assert_eq!(
            equation::single(&keys, &address, MESSAGE, &key.sign(MESSAGE)),
            Ok(())
        );
    }
    assert_eq!(keys.len(), 2, "the least recently used key is forgotten");
    // A y with no point on the curve (2 is not a valid y for ed25519) is not remembered.
    let off_curve = Address::from_bytes(y_encoding(2, 0, 0));
    let signature = dev_secret_key(0).sign(MESSAGE);
    assert_eq!(
        equation::single(&keys, &off_curve, MESSAGE, &signature),
        Err(SignatureError::PublicKeyNotOnCurve)
    );
    let fresh = KeyCache::new(std::num::NonZeroUsize::new(2).unwrap());
    let _ = equation::single(&fresh, &off_curve, MESSAGE, &signature);
    assert!(fresh.is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Remembered keys change what a check costs, never its verdict: a cache that holds
    /// one key, a cold one and a warm one give every signature the same single verdict
    /// and every batch the same batch verdict, which is ed25519-zebra's.
    #[test]
    fn the_key_cache_never_changes_a_verdict(
        cases in proptest::collection::vec((any::<u64>(), 0usize..8, any::<u64>(), 0usize..8, any::<bool>()), 1..8),
        honest in 0usize..4,
    ) {
        let mut crafted = crafted_mixed(&cases);
        // Keys that repeat, as a wallet's do.
        for i in 0..honest {
            let key = dev_secret_key((i % 2) as u32);
            crafted.push((key.address(), key.sign(MESSAGE)));
        }
        let items: Vec<SignedMessage<'_>> = crafted
            .iter()
            .map(|(key, signature)| SignedMessage { key, message: MESSAGE, signature })
            .collect();
        let one = KeyCache::new(std::num::NonZeroUsize::MIN);
        let warm = KeyCache::new(KEY_CACHE_ENTRIES);
        for item in &items {
            let cold = equation::single(&KeyCache::new(KEY_CACHE_ENTRIES), item.key, item.message, item.signature);
            prop_assert_eq!(equation::single(&one, item.key, item.message, item.signature), cold);
            prop_assert_eq!(equation::single(&warm, item.key, item.message, item.signature), cold);
            prop_assert_eq!(equation::single(&warm, item.key, item.message, item.signature), cold);
        }
        let all_hold = items
            .iter()
            .all(|item| equation::single(&one, item.key, item.message, item.signature).is_ok());
        prop_assert_eq!(equation::batch_holds(&KeyCache::new(KEY_CACHE_ENTRIES), &items), all_hold);
        prop_assert_eq!(equation::batch_holds(&one, &items), all_hold);
        prop_assert_eq!(equation::batch_holds(&warm, &items), all_hold);
        prop_assert_eq!(zebra_batch(&items), all_hold);
    }
}

/// The batch equation is computed one of two ways, by its size: with the basepoint's
/// precomputed table (Straus) below `PIPPENGER_FROM_POINTS` points, and as a plain product
/// (Pippenger) from there on. Both decide every batch alike, ed25519-zebra's way,
/// including signatures whose key and nonce point carry small-order components.
#[test]
fn both_ways_of_computing_the_batch_equation_decide_alike() {
    // 3 honest keys: 1 + 5 + 5 points with the crafted two; 100: 1 + 102 + 102, past
    // the switch.
    for honest in [3u32, 100] {
        let mut crafted: Vec<(Address, Signature)> = (0..honest)
            .map(|i| {
                let key = dev_secret_key(i);
                (key.address(), key.sign(MESSAGE))
            })
            .collect();
        crafted.extend(crafted_mixed(&[(1, 3, 2, 5, true), (3, 1, 4, 0, true)]));
        let points = 1 + 2 * crafted.len();
        assert_eq!(
            points >= equation::PIPPENGER_FROM_POINTS,
            honest == 100,
            "each way is exercised"
        );
        // Another honest key's signature; a mixed-order signature under another
        // mixed-order key.
        let mut forged = crafted.clone();
        forged[1].1 = forged[2].1;
        let mut forged_mixed = crafted.clone();
        let last = forged_mixed.len() - 1;
        forged_mixed[last].0 = crafted_mixed(&[(5, 2, 4, 0, true)])[0].0;
        for (batch, holds) in [(crafted, true), (forged, false), (forged_mixed, false)] {
            let batch: Vec<SignedMessage<'_>> = batch
                .iter()
                .map(|(key, signature)| SignedMessage {
                    key,
                    message: MESSAGE,
                    signature,
                })
                .collect();
            let keys = KeyCache::new(KEY_CACHE_ENTRIES);
            assert_eq!(
                equation::batch_holds(&keys, &batch),
                holds,
                "{honest} honest"
            );
            assert_eq!(zebra_batch(&batch), holds, "{honest} honest");
        }
    }
}
