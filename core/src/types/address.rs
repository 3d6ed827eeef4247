//! Account addresses and their text form.
//!
//! An address is the account's 32-byte ed25519 public key itself: there is no hash in
//! between, so a transaction's sender key is also its sender address. People see addresses
//! as bech32m (BIP-350) strings whose human-readable prefix comes from the chain spec, for
//! example `tdev1…` on the dev chain; the checksum catches typos, and the prefix catches an
//! address meant for another chain.

use std::fmt;

use bech32::primitives::decode::{CheckedHrpstring, CheckedHrpstringError};
use bech32::{Bech32m, Hrp};

/// The longest human-readable prefix a chain spec may choose. Short prefixes keep
/// addresses readable; bech32 itself would allow 83 characters.
pub const MAX_PREFIX_LEN: usize = 16;

/// A 32-byte account address: the account's ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address([u8; 32]);

/// The human-readable part of a chain's addresses: 1 to [`MAX_PREFIX_LEN`] lowercase ASCII
/// letters and digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddressPrefix(Hrp);

/// Why a text is not an address of this chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// The prefix is not 1 to 16 lowercase letters and digits.
    #[error(
        "invalid address prefix {0:?}: use 1 to {MAX_PREFIX_LEN} lowercase letters and digits"
    )]
    InvalidPrefix(String),
    /// The text is not a bech32m string at all (bad characters, no separator, mixed case).
    #[error("not a bech32m address: {0}")]
    Malformed(String),
    /// The checksum does not match: the address was mistyped or truncated.
    #[error("invalid checksum")]
    InvalidChecksum,
    /// The address belongs to another chain.
    #[error("address prefix {found:?} is not this chain's {expected:?}")]
    WrongPrefix {
        /// This chain's prefix.
        expected: String,
        /// The prefix the text carries.
        found: String,
    },
    /// The payload is not 32 bytes.
    #[error("address payload is {0} bytes, expected 32")]
    WrongLength(usize),
    /// The text decodes, but is not the one canonical spelling of its bytes (for example
    /// non-zero padding bits), so it is refused rather than silently normalised.
    #[error("non-canonical address encoding")]
    NonCanonical,
}

impl AddressPrefix {
    /// Checks and wraps a chain's address prefix.
    pub fn new(prefix: &str) -> Result<AddressPrefix, AddressError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let invalid = || AddressError::InvalidPrefix(prefix.to_owned());
        if !valid {
            return Err(invalid());
        }
        Hrp::parse(prefix).map(AddressPrefix).map_err(|_| invalid())
    }

    /// The prefix as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for AddressPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Address {
    /// The address whose key is 32 bytes of `bytes`.
    pub const fn from_bytes(bytes: [u8; 32]) -> Address {
        Address(bytes)
    }

    /// The 32 bytes of the address (the public key).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The bech32m text form under `prefix`.
    pub fn to_bech32(&self, prefix: &AddressPrefix) -> String {
        // 32 bytes under a prefix of at most 16 characters is far below every bech32 length
        // limit, so encoding cannot fail; the fallback keeps this function total regardless.
        bech32::encode::<Bech32m>(prefix.0, &self.0).unwrap_or_else(|_| hex::encode(self.0))
    }

    /// Parses the bech32m text form, insisting on this chain's `prefix`.
    pub fn from_bech32(text: &str, prefix: &AddressPrefix) -> Result<Address, AddressError> {
        let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| match e {
            CheckedHrpstringError::Checksum(_) => AddressError::InvalidChecksum,
            other => AddressError::Malformed(other.to_string()),
        })?;
        if checked.hrp() != prefix.0 {
            return Err(AddressError::WrongPrefix {
                expected: prefix.to_string(),
                found: checked.hrp().to_lowercase(),
            });
        }
        let mut bytes = [0u8; 32];
        let mut length = 0;
        // One byte past 32 is enough to know the length is wrong.
        for byte in checked.byte_iter().take(33) {
            if let Some(slot) = bytes.get_mut(length) {
                *slot = byte;
            }
            length += 1;
        }
        if length != bytes.len() {
            return Err(AddressError::WrongLength(length));
        }
        // 32 bytes are 52 characters, the last carrying 4 bits of padding: another text
        // for the same bytes differs only there, which BIP 173's rule (padding all zero)
        // refuses without encoding the address again.
        checked
            .validate_segwit_padding()
            .map_err(|_| AddressError::NonCanonical)?;
        Ok(Address(bytes))
    }
}

impl fmt::Debug for Address {
    /// Hex, because the prefix that the text form needs is not known here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> AddressPrefix {
        AddressPrefix::new("tdev").unwrap()
    }

    #[test]
    fn text_form_round_trips() {
        let address = Address([7; 32]);
        let text = address.to_bech32(&dev());
        assert!(text.starts_with("tdev1"));
        assert_eq!(Address::from_bech32(&text, &dev()), Ok(address));
        assert_eq!(
            Address::from_bech32(&text.to_uppercase(), &dev()),
            Ok(address)
        );
    }

    #[test]
    fn a_typo_is_caught_by_the_checksum() {
        let text = Address([7; 32]).to_bech32(&dev());
        let last = text.chars().last().unwrap();
        let swapped = if last == 'q' { 'p' } else { 'q' };
        let typo = format!("{}{}", &text[..text.len() - 1], swapped);
        assert_eq!(
            Address::from_bech32(&typo, &dev()),
            Err(AddressError::InvalidChecksum)
        );
    }

    #[test]
    fn another_chains_address_is_refused() {
        let other = AddressPrefix::new("tern").unwrap();
        let text = Address([7; 32]).to_bech32(&other);
        assert!(matches!(
            Address::from_bech32(&text, &dev()),
            Err(AddressError::WrongPrefix { .. })
        ));
    }

    #[test]
    fn classic_bech32_and_wrong_lengths_are_refused() {
        let classic = bech32::encode::<bech32::Bech32>(dev().0, &[7; 32]).unwrap();
        assert_eq!(
            Address::from_bech32(&classic, &dev()),
            Err(AddressError::InvalidChecksum)
        );
        let short = bech32::encode::<Bech32m>(dev().0, &[7; 20]).unwrap();
        assert_eq!(
            Address::from_bech32(&short, &dev()),
            Err(AddressError::WrongLength(20))
        );
        assert!(matches!(
            Address::from_bech32("not an address", &dev()),
            Err(AddressError::Malformed(_))
        ));
    }

    /// The same 32 bytes written with a padding bit set: a valid checksum over another
    /// text, refused so that every address has one spelling.
    #[test]
    fn non_zero_padding_is_refused() {
        use bech32::primitives::iter::{ByteIterExt, Fe32IterExt};
        let mut fes: Vec<bech32::Fe32> = [7u8; 32].iter().copied().bytes_to_fes().collect();
        assert_eq!(fes.len(), 52);
        let last = fes.pop().unwrap();
        fes.push(bech32::Fe32::try_from(last.to_u8() | 1).unwrap());
        let text: String = fes
            .into_iter()
            .with_checksum::<Bech32m>(&dev().0)
            .chars()
            .collect();
        assert_ne!(text, Address([7; 32]).to_bech32(&dev()));
        assert_eq!(
            Address::from_bech32(&text, &dev()),
            Err(AddressError::NonCanonical)
        );
    }

    #[test]
    fn prefixes_are_checked() {
        for bad in ["", "Tdev", "t-dev", "averyveryverylongprefix"] {
            assert!(AddressPrefix::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
