//! The quantities of the consensus domain, each its own type.
//!
//! Hashes of different things are different types, amounts cannot overflow silently, and a
//! height is not a count. Every type here has one canonical byte form (see
//! [`crate::encoding`]) and, where people read it, one text form.

mod address;
mod amount;
mod hash;
mod height;
mod work;

pub use address::{Address, AddressError, AddressPrefix, MAX_PREFIX_LEN};
pub use amount::{Amount, AmountError, ParseAmountError};
pub use hash::{BlockHash, HexError, MerkleRoot, SignedTxHash, SpecHash, StateRoot, TxId};
pub use height::Height;
pub use work::{Target, TargetError, Work};

/// Identifies a chain inside every transaction, so a transaction signed for one chain can
/// never be replayed on another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChainId(pub u32);

impl std::fmt::Display for ChainId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Milliseconds since the Unix epoch, as carried in block headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp as milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// The current wall-clock time, or the epoch if the clock is set before 1970.
    pub fn now() -> Self {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
