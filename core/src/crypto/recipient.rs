//! Whether an address is a key someone could sign with: a transfer to 32 bytes that are
//! not one can never be spent, and its amount is burnt.
//!
//! This is policy, not consensus: the mempool refuses such a transfer (RPC and relay
//! alike) and `tern wallet` refuses to sign one, but a block that includes one is valid.
//! A consensus rule would make every block that ever paid such an address invalid for
//! nodes that enforce it (a fork for nothing), while the harm falls only on the sender,
//! who is the one the check protects. Bitcoin treats its "non-standard" outputs the same
//! way.
//!
//! The check is the signature rule's own for public keys (`docs/PROTOCOL.md`, "The
//! signature rule", rules 2, 3 and 5): an address that fails it could never sign a
//! transaction that the chain accepts.

use curve25519_dalek::edwards::CompressedEdwardsY;

use super::rule::{is_canonical_point_encoding, SMALL_ORDER_ENCODINGS};
use crate::types::Address;

/// Why an address is not a key anyone could sign with, one variant per rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    /// Its bytes are not a canonical point encoding: the signature rule refuses the key.
    #[error("the recipient is not a canonical point encoding, so no one can sign for it")]
    NonCanonical,
    /// It is one of the eight points of small order, a key whose signatures anyone can
    /// forge and the signature rule refuses.
    #[error("the recipient is a point of small order, a key the chain refuses to sign with")]
    SmallOrder,
    /// No point of the curve has it as its encoding.
    #[error("the recipient is not a point on the curve, so no one holds its key")]
    NotOnCurve,
}

impl RecipientError {
    /// A stable snake-case name for the rule, for RPC errors.
    pub fn code(&self) -> &'static str {
        match self {
            RecipientError::NonCanonical => "non_canonical",
            RecipientError::SmallOrder => "small_order",
            RecipientError::NotOnCurve => "not_on_curve",
        }
    }
}

/// Checks that `address` is a public key someone could sign with. The point is decoded
/// here and forgotten: the key cache that signature checks share is left to senders, so
/// that a flood to fresh recipients cannot evict the keys whose signatures are checked.
pub fn check_recipient(address: &Address) -> Result<(), RecipientError> {
    if !is_canonical_point_encoding(address.as_bytes()) {
        return Err(RecipientError::NonCanonical);
    }
    if SMALL_ORDER_ENCODINGS.contains(address.as_bytes()) {
        return Err(RecipientError::SmallOrder);
    }
    match CompressedEdwardsY(*address.as_bytes()).decompress() {
        Some(_) => Ok(()),
        None => Err(RecipientError::NotOnCurve),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::dev_secret_key;

    #[test]
    fn keys_pass_and_the_three_kinds_of_non_key_are_named() {
        assert_eq!(check_recipient(&dev_secret_key(3).address()), Ok(()));
        for small in SMALL_ORDER_ENCODINGS {
            assert_eq!(
                check_recipient(&Address::from_bytes(small)),
                Err(RecipientError::SmallOrder)
            );
        }
        // y = p, not reduced.
        let mut unreduced = [0xff; 32];
        unreduced[0] = 0xed;
        unreduced[31] = 0x7f;
        assert_eq!(
            check_recipient(&Address::from_bytes(unreduced)),
            Err(RecipientError::NonCanonical)
        );
        // y = 2 has no x on the curve: x² = (y² − 1) / (d y² + 1) is not a square.
        let mut two = [0u8; 32];
        two[0] = 2;
        assert_eq!(
            check_recipient(&Address::from_bytes(two)),
            Err(RecipientError::NotOnCurve)
        );
    }
}
