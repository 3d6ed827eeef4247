//! Amounts of coin.

use std::fmt;
use std::str::FromStr;

/// An amount of coin in base units.
///
/// The inner value is private: every sum and difference goes through checked arithmetic
/// that returns an error instead of wrapping, so no rule can be bypassed by overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(u64);

/// Arithmetic on amounts that would leave the range of a `u64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The result is above `u64::MAX` base units.
    #[error("amount overflow")]
    Overflow,
    /// The result is below zero.
    #[error("amount underflow")]
    Underflow,
}

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(0);
    /// The largest representable amount.
    pub const MAX: Amount = Amount(u64::MAX);

    /// An amount of `units` base units.
    pub const fn from_base_units(units: u64) -> Amount {
        Amount(units)
    }

    /// The amount in base units.
    pub const fn base_units(self) -> u64 {
        self.0
    }

    /// `self + other`, or [`AmountError::Overflow`].
    pub fn checked_add(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(AmountError::Overflow)
    }

    /// `self - other`, or [`AmountError::Underflow`].
    pub fn checked_sub(self, other: Amount) -> Result<Amount, AmountError> {
        self.0
            .checked_sub(other.0)
            .map(Amount)
            .ok_or(AmountError::Underflow)
    }

    /// The sum of all `amounts`, or [`AmountError::Overflow`].
    pub fn checked_sum(amounts: impl IntoIterator<Item = Amount>) -> Result<Amount, AmountError> {
        amounts
            .into_iter()
            .try_fold(Amount::ZERO, Amount::checked_add)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseAmountError {
    /// Only decimal digits are allowed: no sign, no fraction, no spaces.
    #[error("an amount is a whole number of base units in decimal digits, got {0:?}")]
    NotDecimal(String),
    /// The number does not fit in a `u64`.
    #[error("amount {0} is larger than the maximum {max}", max = u64::MAX)]
    TooLarge(String),
}

impl FromStr for Amount {
    type Err = ParseAmountError;

    /// Parses a decimal number of base units. There is exactly one spelling per amount
    /// apart from leading zeros: no sign, no fraction, no separators.
    fn from_str(text: &str) -> Result<Amount, ParseAmountError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseAmountError::NotDecimal(text.to_owned()));
        }
        text.parse::<u64>()
            .map(Amount)
            .map_err(|_| ParseAmountError::TooLarge(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn overflow_and_underflow_are_errors() {
        assert_eq!(
            Amount::MAX.checked_add(Amount(1)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Amount::ZERO.checked_sub(Amount(1)),
            Err(AmountError::Underflow)
        );
        assert_eq!(
            Amount::checked_sum([Amount(u64::MAX), Amount(1)]),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn text_form_is_plain_decimal() {
        assert_eq!("42".parse::<Amount>(), Ok(Amount(42)));
        assert!("+42".parse::<Amount>().is_err());
        assert!("-1".parse::<Amount>().is_err());
        assert!("1.5".parse::<Amount>().is_err());
        assert!("".parse::<Amount>().is_err());
        assert_eq!(
            "18446744073709551616".parse::<Amount>(),
            Err(ParseAmountError::TooLarge("18446744073709551616".into()))
        );
        assert_eq!(Amount(u64::MAX).to_string(), u64::MAX.to_string());
    }

    proptest! {
        #[test]
        fn checked_math_agrees_with_wide_math(a: u64, b: u64) {
            let wide = u128::from(a) + u128::from(b);
            match Amount(a).checked_add(Amount(b)) {
                Ok(sum) => prop_assert_eq!(u128::from(sum.base_units()), wide),
                Err(_) => prop_assert!(wide > u128::from(u64::MAX)),
            }
            match Amount(a).checked_sub(Amount(b)) {
                Ok(diff) => prop_assert_eq!(diff.base_units() + b, a),
                Err(_) => prop_assert!(a < b),
            }
        }
    }
}
