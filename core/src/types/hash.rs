//! 32-byte hash newtypes.
//!
//! Byte order: a hash is stored, sent and shown in the order SHA-256 outputs it; there is
//! no reversal anywhere (unlike Bitcoin's display order). The text form is 64 lowercase hex
//! digits; parsing also accepts upper case.

use std::fmt;
use std::str::FromStr;

/// Why a hash could not be parsed from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// The text is not exactly 64 hex digits long.
    #[error("expected 64 hex digits, got {0} characters")]
    WrongLength(usize),
    /// The text holds a character that is not a hex digit.
    #[error("not a hex string: {0}")]
    NotHex(String),
}

macro_rules! hash_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name([u8; 32]);

        impl $name {
            /// The all-zero hash.
            pub const ZERO: Self = Self([0; 32]);

            /// Wraps 32 bytes as this hash.
            pub const fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The 32 bytes of the hash.
            pub const fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Display for $name {
            /// Lowercase hex, written from a stack buffer: every RPC answer that names a
            /// transaction or block formats one, so no per-character iterator or `String`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut text = [0u8; 64];
                hex::encode_to_slice(self.0, &mut text).map_err(|_| fmt::Error)?;
                f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl crate::encoding::Encode for $name {
            fn encode(&self, w: &mut crate::encoding::Writer) {
                w.array(&self.0);
            }
        }

        impl crate::encoding::Decode for $name {
            const MAX_ENCODED_LEN: usize = 32;

            fn decode(r: &mut crate::encoding::Reader<'_>) -> Result<Self, crate::encoding::DecodeError> {
                r.array(stringify!($name)).map(Self)
            }
        }

        impl FromStr for $name {
            type Err = HexError;

            fn from_str(text: &str) -> Result<Self, HexError> {
                parse_hex32(text).map(Self)
            }
        }
    };
}

/// Parses exactly 64 hex digits into 32 bytes.
pub(crate) fn parse_hex32(text: &str) -> Result<[u8; 32], HexError> {
    if text.len() != 64 {
        return Err(HexError::WrongLength(text.len()));
    }
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes).map_err(|e| HexError::NotHex(e.to_string()))?;
    Ok(bytes)
}

hash_newtype! {
    /// Identifies a block: the SHA-256 of its header's canonical encoding
    /// (see [`crate::block::Header::hash`]).
    BlockHash
}

hash_newtype! {
    /// Identifies a transaction: the SHA-256 of the unsigned transaction's canonical
    /// encoding. It does not cover the signature, of which a sender can make many valid
    /// ones (see [`crate::tx`]), so a transfer keeps its id whatever bytes carry it.
    TxId
}

hash_newtype! {
    /// Identifies the exact bytes of a signed transaction: the SHA-256 of its full
    /// canonical encoding, signature included. Blocks commit to these (so a block's bytes
    /// are fixed by its header) and the signature cache is keyed by them.
    SignedTxHash
}

hash_newtype! {
    /// The root of a block's transaction Merkle tree (see [`crate::block::merkle_root`]).
    MerkleRoot
}

hash_newtype! {
    /// The root of the state map: commits to every account, its balance and nonce (see
    /// [`crate::state_map`]).
    StateRoot
}

hash_newtype! {
    /// Commits to every consensus parameter and allocation of a chain spec; the genesis
    /// header carries it, so the genesis hash identifies the whole spec.
    SpecHash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_is_lowercase() {
        let hash = TxId::from_bytes([0xab; 32]);
        let text = hash.to_string();
        assert_eq!(text, "ab".repeat(32));
        assert_eq!(text.parse::<TxId>(), Ok(hash));
        assert_eq!(text.to_uppercase().parse::<TxId>(), Ok(hash));
    }

    #[test]
    fn bad_text_is_rejected_with_reason() {
        assert_eq!("abc".parse::<BlockHash>(), Err(HexError::WrongLength(3)));
        assert!(matches!(
            "zz".repeat(32).parse::<BlockHash>(),
            Err(HexError::NotHex(_))
        ));
        // A multi-byte character must not be sliced mid-way.
        assert!("é".repeat(32).parse::<BlockHash>().is_err());
    }
}
