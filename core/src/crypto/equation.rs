//! Rule 5 of the signature rule, the cofactored equation `[8][S]B = [8]R + [8][k]A`, for
//! one signature and for a batch, on `curve25519-dalek`, with decompressed public keys
//! remembered.
//!
//! # Why not a library's equation
//!
//! The equation is ZIP 215's, as `ed25519-zebra` implements it (the tests check every
//! verdict against that crate): the single check is its `verify_prehashed`, the batch its
//! `batch::Verifier`, line for line. What it cannot do is take a key that is already
//! decoded: its API takes key bytes and decompresses `A` on every call, a square root of
//! about a quarter of a batch signature's cost. Keys repeat (a wallet signs many
//! transfers, a block carries many from one sender), so [`KeyCache`] keeps the points of
//! the keys seen last and only `R`, which is new in every signature, is decompressed
//! each time. Decompression is a pure function of the bytes, so the cache changes what a
//! check costs, never its verdict.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{
    IsIdentity, VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul,
};
use lru::LruCache;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha512};

use super::verdict::{SignatureError, SignedMessage};
use super::Signature;
use crate::types::Address;

/// Decompressed public keys remembered: the active senders of a busy node. About 6 MiB
/// (a point is 160 bytes, with its key and the cache's links about 200).
pub const KEY_CACHE_ENTRIES: NonZeroUsize = match NonZeroUsize::new(32_768) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// The points of recently used public keys, least recently used forgotten first. Only
/// keys that decompress are kept; one off the curve is decided again each time (it fails
/// either way).
#[derive(Debug)]
pub struct KeyCache {
    points: Mutex<LruCache<[u8; 32], EdwardsPoint>>,
}

/// The process's one key cache: a memo of a pure function, shared by every verifier.
static KEYS: LazyLock<KeyCache> = LazyLock::new(|| KeyCache::new(KEY_CACHE_ENTRIES));

impl KeyCache {
    /// An empty cache of at most `capacity` keys.
    pub fn new(capacity: NonZeroUsize) -> KeyCache {
        KeyCache {
            points: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<[u8; 32], EdwardsPoint>> {
        // Every operation leaves the cache consistent.
        self.points.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The points of `keys`, in order; `None` for a key whose bytes name no curve point.
    /// One lock to look up, the misses decompressed outside it, one lock to remember them.
    fn points(&self, keys: &[&Address]) -> Vec<Option<EdwardsPoint>> {
        let mut points: Vec<Option<EdwardsPoint>> = {
            let mut cache = self.lock();
            keys.iter()
                .map(|key| cache.get(key.as_bytes()).copied())
                .collect()
        };
        let mut decoded = Vec::new();
        for (point, key) in points.iter_mut().zip(keys) {
            if point.is_none() {
                *point = CompressedEdwardsY(*key.as_bytes()).decompress();
                if let Some(decompressed) = point {
                    decoded.push((*key.as_bytes(), *decompressed));
                }
            }
        }
        if !decoded.is_empty() {
            let mut cache = self.lock();
            for (key, point) in decoded {
                cache.put(key, point);
            }
        }
        points
    }

    /// How many keys the cache holds.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache holds no key.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// Points from which `curve25519-dalek` computes a multiscalar product with Pippenger's
/// method instead of Straus's (its own switch, in `EdwardsPoint::vartime_multiscalar_mul`).
/// The precomputed basepoint below only exists for Straus: a batch this large takes the
/// plain product, whose Pippenger is far cheaper per point (1,024 signatures: 13 ms
/// against 20 ms).
pub(super) const PIPPENGER_FROM_POINTS: usize = 190;

/// The basepoint's wider precomputed table for the batch equation's `[−Σzᵢsᵢ]B` term,
/// used below [`PIPPENGER_FROM_POINTS`]: a batch otherwise builds the basepoint's table
/// anew each time and walks a sparser form of its scalar, a fixed cost that small batches
/// (a flood of single RPC calls makes batches of ten or so) pay on few signatures. About
/// 4% a signature from one to 64 per batch.
static BASEPOINT_TABLE: LazyLock<VartimeEdwardsPrecomputation> =
    LazyLock::new(|| VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT]));

/// The key cache every verification uses.
pub(super) fn key_cache() -> &'static KeyCache {
    &KEYS
}

/// `k = SHA-512(R ‖ A ‖ M) mod ℓ`.
fn challenge(r: &[u8; 32], key: &Address, message: &[u8]) -> Scalar {
    let digest = Sha512::new()
        .chain_update(r)
        .chain_update(key.as_bytes())
        .chain_update(message)
        .finalize();
    Scalar::from_bytes_mod_order_wide(&digest.into())
}

/// `S` as a scalar, if canonical (rule 1, checked again here so that the equation stands
/// on its own).
fn scalar_s(signature: &Signature) -> Option<Scalar> {
    Scalar::from_canonical_bytes(signature.s_bytes()).into()
}

/// Rule 5 for one signature whose bytes passed rules 1 to 4, with `keys` remembering its
/// key's point.
pub(super) fn single(
    keys: &KeyCache,
    key: &Address,
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    let a = keys
        .points(&[key])
        .pop()
        .flatten()
        .ok_or(SignatureError::PublicKeyNotOnCurve)?;
    let r_bytes = signature.r_bytes();
    let r = CompressedEdwardsY(r_bytes)
        .decompress()
        .ok_or(SignatureError::RNotOnCurve)?;
    let s = scalar_s(signature).ok_or(SignatureError::NonCanonicalS)?;
    let k = challenge(&r_bytes, key, message);
    // [8][S]B = [8]R + [8][k]A  ⇔  [8](R − R') = 0 with R' = [S]B − [k]A.
    let r_prime = EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s);
    if (r - r_prime).mul_by_cofactor().is_identity() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Whether rule 5 holds for every one of `items` (which passed rules 1 to 4), checked as
/// one random linear combination: `[8]([−Σzᵢsᵢ]B + Σ[zᵢkᵢ]Aᵢ + Σ[zᵢ]Rᵢ) = 0` with random
/// 128-bit `zᵢ`, the terms of one key summed first. `false` says only that some item
/// fails (or that no randomness was to be had); the single checks say which.
pub(super) fn batch_holds(keys: &KeyCache, items: &[SignedMessage<'_>]) -> bool {
    // Without randomness for the coefficients the batch is unsound: a signer who could
    // predict them could make a bad signature cancel out.
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        return false;
    }
    let mut rng = ChaCha20Rng::from_seed(seed);

    // Each key once: its terms are summed into one coefficient.
    let mut key_index: HashMap<&[u8; 32], usize> = HashMap::with_capacity(items.len());
    let mut distinct: Vec<&Address> = Vec::new();
    let item_keys: Vec<usize> = items
        .iter()
        .map(|item| {
            *key_index.entry(item.key.as_bytes()).or_insert_with(|| {
                distinct.push(item.key);
                distinct.len().saturating_sub(1)
            })
        })
        .collect();
    let Some(key_points) = keys
        .points(&distinct)
        .into_iter()
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };

    let mut b_coeff = Scalar::ZERO;
    let mut key_coeffs = vec![Scalar::ZERO; key_points.len()];
    let mut r_coeffs = Vec::with_capacity(items.len());
    let mut r_points = Vec::with_capacity(items.len());
    for (item, &key) in items.iter().zip(&item_keys) {
        let r_bytes = item.signature.r_bytes();
        let (Some(r), Some(s), Some(key_coeff)) = (
            CompressedEdwardsY(r_bytes).decompress(),
            scalar_s(item.signature),
            key_coeffs.get_mut(key),
        ) else {
            return false;
        };
        let k = challenge(&r_bytes, item.key, item.message);
        let mut z = [0u8; 16];
        rng.fill_bytes(&mut z);
        let z = Scalar::from(u128::from_le_bytes(z));
        b_coeff -= z * s;
        *key_coeff += z * k;
        r_coeffs.push(z);
        r_points.push(r);
    }
    let check = if 1 + key_points.len() + r_points.len() < PIPPENGER_FROM_POINTS {
        BASEPOINT_TABLE.vartime_mixed_multiscalar_mul(
            [b_coeff],
            key_coeffs.iter().chain(&r_coeffs),
            key_points.iter().chain(&r_points),
        )
    } else {
        EdwardsPoint::vartime_multiscalar_mul(
            std::iter::once(&b_coeff)
                .chain(&key_coeffs)
                .chain(&r_coeffs),
            std::iter::once(&ED25519_BASEPOINT_POINT)
                .chain(&key_points)
                .chain(&r_points),
        )
    };
    check.mul_by_cofactor().is_identity()
}
