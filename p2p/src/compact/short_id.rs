//! Short transaction ids: 6 bytes of SipHash-2-4 over a transaction's signed hash, keyed
//! by SHA-256 of the block's header and a nonce the sender draws for each compact block
//! it sends (BIP152's scheme, over the signed hash as BIP152's version 2 uses the
//! witness id). A sender cannot grind two transactions whose ids collide for every
//! block, because the key is unknown until the block is mined, and each send draws a
//! fresh nonce; an accidental collision (about one in 2^48 per pair) costs a round trip
//! for the whole block, never a wrong block: the rebuilt body must match the header's
//! Merkle root.

use sha2::{Digest, Sha256};
use siphasher::sip::SipHasher24;
use tern_chain::block::Header;
use tern_chain::encoding::{self, Decode, DecodeError, Encode, Reader, Writer};
use tern_chain::types::SignedTxHash;

/// The encoded length of a [`ShortId`].
pub const SHORT_ID_LEN: usize = 6;

/// A transaction's id within one compact block: the low 48 bits of its keyed SipHash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortId(u64);

impl ShortId {
    /// The id's 48 bits.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// The key of one compact block's short ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortIdKey {
    k0: u64,
    k1: u64,
}

impl ShortIdKey {
    /// The key for the block with `header`, sent with `nonce`: the first 16 bytes of
    /// SHA-256(header's encoding, nonce as 8 bytes little-endian), as two little-endian
    /// 64-bit halves.
    pub fn new(header: &Header, nonce: u64) -> ShortIdKey {
        let mut hasher = Sha256::new();
        hasher.update(encoding::encode(header));
        hasher.update(nonce.to_le_bytes());
        let digest = hasher.finalize();
        let half = |at: usize| {
            let mut bytes = [0; 8];
            if let Some(slice) = digest.get(at..at + 8) {
                bytes.copy_from_slice(slice);
            }
            u64::from_le_bytes(bytes)
        };
        ShortIdKey {
            k0: half(0),
            k1: half(8),
        }
    }

    /// The short id of the transaction whose signed hash is `hash`.
    pub fn short_id(&self, hash: &SignedTxHash) -> ShortId {
        let full = SipHasher24::new_with_keys(self.k0, self.k1).hash(hash.as_bytes());
        ShortId(full & 0xffff_ffff_ffff)
    }
}

impl Encode for ShortId {
    fn encode(&self, w: &mut Writer) {
        let bytes = self.0.to_le_bytes();
        let mut id = [0; SHORT_ID_LEN];
        id.copy_from_slice(bytes.get(..SHORT_ID_LEN).unwrap_or(&[0; SHORT_ID_LEN]));
        w.array(&id);
    }
}

impl Decode for ShortId {
    const MAX_ENCODED_LEN: usize = SHORT_ID_LEN;

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let id: [u8; SHORT_ID_LEN] = r.array("short id")?;
        let mut bytes = [0; 8];
        if let Some(low) = bytes.get_mut(..SHORT_ID_LEN) {
            low.copy_from_slice(&id);
        }
        Ok(ShortId(u64::from_le_bytes(bytes)))
    }
}
