//! Edge cases of the verification rule, each checked through both paths.

use super::*;
use proptest::prelude::*;
use sha2::Sha512;

const MESSAGE: &[u8] = b"tern test message";

/// The eight points of small order, as multiples of a point of order 8 (its encoding is
/// the first entry of libsodium's small-order blocklist).
fn eight_torsion() -> [EdwardsPoint; 8] {
    let bytes =
        hex::decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a").unwrap();
    let generator = CompressedEdwardsY(bytes.try_into().unwrap())
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

fn h(r: &[u8; 32], a: &[u8; 32], message: &[u8]) -> Scalar {
    let digest: [u8; 64] = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(message)
        .finalize()
        .into();
    Scalar::from_bytes_mod_order_wide(&digest)
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
    let s = r + h(&r_bytes, &a_bytes, message) * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_bytes);
    sig[32..].copy_from_slice(s.as_bytes());
    (Address::from_bytes(a_bytes), Signature::from_bytes(sig))
}

fn dalek_key(address: &Address) -> VerifyingKey {
    VerifyingKey::from_bytes(address.as_bytes()).unwrap()
}

fn dalek_sig(signature: &Signature) -> ed25519_dalek::Signature {
    ed25519_dalek::Signature::from_bytes(signature.as_bytes())
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

#[test]
fn small_order_keys_are_rejected_even_where_the_plain_batch_accepts() {
    for torsion in eight_torsion() {
        // A small-order key with R = identity and S = 0 satisfies the batch equation for
        // every message whenever [k]A is the identity.
        let key = Address::from_bytes(torsion.compress().to_bytes());
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&EdwardsPoint::default().compress().to_bytes());
        let signature = Signature::from_bytes(sig);
        assert_eq!(
            both_paths(&key, MESSAGE, &signature),
            Err(SignatureError::PublicKeyNotPrimeOrder),
            "torsion point {:?}",
            torsion.compress()
        );
    }
    let identity = Address::from_bytes(EdwardsPoint::default().compress().to_bytes());
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(identity.as_bytes());
    let forged = Signature::from_bytes(sig);
    assert!(
        ed25519_dalek::verify_batch(&[MESSAGE], &[dalek_sig(&forged)], &[dalek_key(&identity)])
            .is_ok(),
        "the unguarded batch accepts a forgery under the identity key"
    );
    assert_eq!(
        verify_batch(&[SignedMessage {
            key: &identity,
            message: MESSAGE,
            signature: &forged
        }]),
        Err(BatchError {
            index: 0,
            error: SignatureError::PublicKeyNotPrimeOrder
        })
    );
}

#[test]
fn mixed_order_keys_are_rejected_even_where_verify_strict_accepts() {
    let a = Scalar::from(0x1234_5678u64);
    let r = Scalar::from(0x9abc_def0u64);
    let public = EdwardsPoint::mul_base(&a) + eight_torsion()[1];
    // Find a message whose challenge k is a multiple of 8: then [k] kills the torsion
    // component and the cofactorless equation holds for the mixed-order key.
    let (key, signature, message) = (0u32..256)
        .find_map(|i| {
            let message = i.to_le_bytes();
            let (key, signature) = craft(a, r, public, EdwardsPoint::mul_base(&r), &message);
            let k = h(
                &EdwardsPoint::mul_base(&r).compress().to_bytes(),
                key.as_bytes(),
                &message,
            );
            k.as_bytes()[0]
                .is_multiple_of(8)
                .then_some((key, signature, message))
        })
        .expect("one challenge in eight is a multiple of eight");
    assert!(dalek_key(&key)
        .verify_strict(&message, &dalek_sig(&signature))
        .is_ok());
    assert_eq!(
        both_paths(&key, &message, &signature),
        Err(SignatureError::PublicKeyNotPrimeOrder)
    );
}

#[test]
fn mixed_order_and_small_order_r_are_rejected() {
    let a = Scalar::from(77u64);
    let r = Scalar::from(99u64);
    let public = EdwardsPoint::mul_base(&a);
    let (key, signature) = craft(
        a,
        r,
        public,
        EdwardsPoint::mul_base(&r) + eight_torsion()[2],
        MESSAGE,
    );
    assert_eq!(
        both_paths(&key, MESSAGE, &signature),
        Err(SignatureError::RNotPrimeOrder)
    );
    let (key, signature) = craft(a, r, public, eight_torsion()[4], MESSAGE);
    assert_eq!(
        both_paths(&key, MESSAGE, &signature),
        Err(SignatureError::RNotPrimeOrder)
    );
    // The same construction with a clean R verifies: the rule, not the construction, rejects.
    let (key, signature) = craft(a, r, public, EdwardsPoint::mul_base(&r), MESSAGE);
    assert_eq!(both_paths(&key, MESSAGE, &signature), Ok(()));
}

/// Encodings that decode to a point but are not the point's canonical encoding: y = p + 1
/// (the identity's y, unreduced) and the identity with the sign bit set ("negative zero").
fn non_canonical_encodings() -> [[u8; 32]; 2] {
    let mut y_plus_p = [0xffu8; 32];
    y_plus_p[0] = 0xee; // p + 1 = 2^255 - 18
    y_plus_p[31] = 0x7f;
    let mut negative_zero = [0u8; 32];
    negative_zero[0] = 1;
    negative_zero[31] = 0x80;
    [y_plus_p, negative_zero]
}

#[test]
fn non_canonical_r_and_key_encodings_are_rejected() {
    let key = dev_secret_key(3);
    let honest = key.sign(MESSAGE);
    for encoding in non_canonical_encodings() {
        if CompressedEdwardsY(encoding).decompress().is_none() {
            continue;
        }
        let mut sig = *honest.as_bytes();
        sig[..32].copy_from_slice(&encoding);
        assert_eq!(
            both_paths(&key.address(), MESSAGE, &Signature::from_bytes(sig)),
            Err(SignatureError::InvalidR)
        );
        assert_eq!(
            both_paths(&Address::from_bytes(encoding), MESSAGE, &honest),
            Err(SignatureError::InvalidPublicKey)
        );
    }
    // A y with no point on the curve.
    let mut off_curve = [0u8; 32];
    off_curve[0] = 2;
    assert!(CompressedEdwardsY(off_curve).decompress().is_none());
    assert_eq!(
        both_paths(&Address::from_bytes(off_curve), MESSAGE, &honest),
        Err(SignatureError::InvalidPublicKey)
    );
}

#[test]
fn dev_keys_are_stable() {
    // Published in docs/PROTOCOL.md and genesis/dev.json; changing them breaks every wallet.
    assert_eq!(
        hex::encode(dev_secret_key(0).to_bytes()),
        hex::encode(Sha256::digest([DEV_SEED_TAG, &0u32.to_le_bytes()].concat()))
    );
    assert_ne!(dev_secret_key(0).address(), dev_secret_key(1).address());
    assert!(
        !format!("{:?}", dev_secret_key(0)).contains(&hex::encode(dev_secret_key(0).to_bytes()))
    );
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
}
