//! Keys and ed25519 signatures.
//!
//! Signing is RFC 8032 ed25519 (by `ed25519-dalek`); verification follows Tern's own rule,
//! in [`rule`], which decides every edge case the same way for single and batch checks,
//! its equation computed in [`equation`], both answering in the types of [`verdict`];
//! [`recipient`] applies its key rules to the addresses transfers pay.

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};

use crate::types::Address;

mod equation;
mod recipient;
mod rule;
mod verdict;

pub use equation::{KeyCache, KEY_CACHE_ENTRIES};
pub use recipient::{check_recipient, RecipientError};
pub use rule::{check_encoding, verify, verify_batch};
pub use verdict::{BatchError, SignatureError, SignedMessage};

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

    /// `R`, the nonce point's encoding.
    pub(crate) fn r_bytes(&self) -> [u8; 32] {
        let mut r = [0u8; 32];
        r.copy_from_slice(&self.0[..32]);
        r
    }

    /// `S`, the scalar's little-endian encoding.
    pub(crate) fn s_bytes(&self) -> [u8; 32] {
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

    /// Another valid signature on `message`, unlike [`Self::sign`]'s: its nonce point is
    /// shifted by the small-order point numbered `torsion` (0 to 7; 0 is the identity, so
    /// only the nonce differs). The signature rule accepts it. It exists to show, in tests
    /// and tools, that a signer can spell one transfer in several valid ways; wallets sign
    /// with [`Self::sign`]. `None` never happens in practice (a constant failed to decode).
    pub fn sign_with_shifted_nonce(&self, message: &[u8], torsion: usize) -> Option<Signature> {
        let public = self.0.verifying_key().to_bytes();
        rule::sign_with_shifted_nonce(&self.0.to_scalar(), &public, message, torsion)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_are_stable() {
        // Published in docs/PROTOCOL.md and genesis/dev.json; changing them breaks every
        // wallet.
        assert_eq!(
            hex::encode(dev_secret_key(0).to_bytes()),
            hex::encode(Sha256::digest([DEV_SEED_TAG, &0u32.to_le_bytes()].concat()))
        );
        assert_ne!(dev_secret_key(0).address(), dev_secret_key(1).address());
        assert!(!format!("{:?}", dev_secret_key(0))
            .contains(&hex::encode(dev_secret_key(0).to_bytes())));
    }
}
