//! Proof-of-work targets and accumulated work, as 256-bit integers.
//!
//! A header meets its target when its hash, read as a 256-bit big-endian integer, is at or
//! below the target. The work a block proves is the expected number of hashes needed to
//! meet its target, `floor(2^256 / (target + 1))`; fork choice compares the sum of it.

use std::fmt;

use ruint::aliases::U256;

use super::{hash::parse_hex32, BlockHash, HexError};

/// A proof-of-work target: a non-zero 256-bit integer. Larger is easier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target(U256);

/// Why 32 bytes or a text are not a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// A zero target can never be met.
    #[error("target is zero")]
    Zero,
    /// The text is not 64 hex digits.
    #[error(transparent)]
    Hex(#[from] HexError),
}

impl Target {
    /// The easiest possible target, met by every hash.
    pub const MAX: Target = Target(U256::MAX);

    /// The hardest possible target, 1.
    pub const MIN: Target = Target(U256::from_limbs([1, 0, 0, 0]));

    /// The target whose big-endian bytes are `bytes`.
    pub fn from_be_bytes(bytes: [u8; 32]) -> Result<Target, TargetError> {
        Self::from_u256(U256::from_be_bytes(bytes))
    }

    /// The target's 32 big-endian bytes.
    pub fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// Parses 64 hex digits (big-endian), as in chain specs.
    pub fn from_hex(text: &str) -> Result<Target, TargetError> {
        Self::from_be_bytes(parse_hex32(text)?)
    }

    pub(crate) fn from_u256(value: U256) -> Result<Target, TargetError> {
        if value.is_zero() {
            return Err(TargetError::Zero);
        }
        Ok(Target(value))
    }

    pub(crate) fn as_u256(self) -> U256 {
        self.0
    }

    /// Whether a header with hash `hash` satisfies this target.
    pub fn is_met_by(self, hash: &BlockHash) -> bool {
        U256::from_be_bytes(*hash.as_bytes()) <= self.0
    }

    /// The expected number of hashes needed to meet this target: `floor(2^256 / (t + 1))`.
    pub fn work(self) -> Work {
        // 2^256 does not fit, so use (2^256 - t - 1) / (t + 1) + 1, which is the same value.
        match self.0.checked_add(U256::from(1u8)) {
            Some(t_plus_one) => Work(
                (!self.0)
                    .wrapping_div(t_plus_one)
                    .saturating_add(U256::from(1u8)),
            ),
            None => Work(U256::from(1u8)),
        }
    }
}

impl fmt::Display for Target {
    /// 64 lowercase hex digits, big-endian, as in chain specs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.to_be_bytes()))
    }
}

/// An amount of proof of work: one block's, or a chain's cumulative sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Work(U256);

impl Work {
    /// No work.
    pub const ZERO: Work = Work(U256::ZERO);

    /// `self + other`. Saturates instead of wrapping: reaching 2^256 would take more hashes
    /// than the universe can compute, and saturating keeps the function total.
    pub fn saturating_add(self, other: Work) -> Work {
        Work(self.0.saturating_add(other.0))
    }

    /// The work's 32 big-endian bytes, so stored keys sort by work.
    pub fn to_be_bytes(self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// The work whose big-endian bytes are `bytes`.
    pub fn from_be_bytes(bytes: [u8; 32]) -> Work {
        Work(U256::from_be_bytes(bytes))
    }

    /// The work as a `u128` if it fits, for logs and statistics.
    pub fn to_u128_saturating(self) -> u128 {
        u128::try_from(self.0).unwrap_or(u128::MAX)
    }
}

impl fmt::Display for Work {
    /// Decimal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn zero_is_not_a_target() {
        assert_eq!(Target::from_be_bytes([0; 32]), Err(TargetError::Zero));
    }

    #[test]
    fn work_of_well_known_targets() {
        assert_eq!(Target::MAX.work(), Work(U256::from(1u8)));
        // Half the hash space: two hashes expected.
        let half = Target(U256::MAX >> 1);
        assert_eq!(half.work(), Work(U256::from(2u8)));
        let one = Target(U256::from(1u8));
        assert_eq!(
            one.work(),
            Work(U256::MAX >> 1).saturating_add(Work(U256::from(1u8)))
        );
    }

    #[test]
    fn the_target_itself_is_met_and_one_above_is_not() {
        let mut bytes = [0u8; 32];
        bytes[1] = 0x10;
        let target = Target::from_be_bytes(bytes).unwrap();
        assert!(target.is_met_by(&BlockHash::from_bytes(bytes)));
        bytes[31] = 1;
        assert!(!target.is_met_by(&BlockHash::from_bytes(bytes)));
    }

    proptest! {
        #[test]
        fn harder_targets_prove_more_work(a: [u8; 32], b: [u8; 32]) {
            if let (Ok(a), Ok(b)) = (Target::from_be_bytes(a), Target::from_be_bytes(b)) {
                if a < b {
                    prop_assert!(a.work() >= b.work());
                }
            }
        }
    }
}
