//! Block heights.

use std::fmt;

/// The height of a block: the number of blocks between it and genesis, which is height 0.
///
/// A height is a position, not a count; the distance between two heights is a plain `u64`
/// obtained from [`Height::blocks_since`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Height(pub u64);

impl Height {
    /// The genesis block's height.
    pub const GENESIS: Height = Height(0);

    /// The height as a plain number.
    pub const fn value(self) -> u64 {
        self.0
    }

    /// The next height, or `None` at `u64::MAX` (a chain that long cannot exist).
    pub fn next(self) -> Option<Height> {
        self.0.checked_add(1).map(Height)
    }

    /// The previous height, or `None` for genesis.
    pub fn parent(self) -> Option<Height> {
        self.0.checked_sub(1).map(Height)
    }

    /// How many blocks `self` is above `earlier`, or `None` if `earlier` is higher.
    pub fn blocks_since(self, earlier: Height) -> Option<u64> {
        self.0.checked_sub(earlier.0)
    }
}

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_total() {
        assert_eq!(Height::GENESIS.parent(), None);
        assert_eq!(Height(u64::MAX).next(), None);
        assert_eq!(Height(5).next(), Some(Height(6)));
        assert_eq!(Height(5).blocks_since(Height(2)), Some(3));
        assert_eq!(Height(2).blocks_since(Height(5)), None);
    }
}
