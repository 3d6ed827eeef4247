//! Fee rates and the pool's rolling minimum.

use std::fmt;

use tern_chain::types::{Amount, Timestamp};

/// A fee rate in base units per 1,000 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FeeRate(pub u64);

impl FeeRate {
    /// The rate of paying `fee` for `size` bytes.
    pub fn of(fee: Amount, size: usize) -> FeeRate {
        let rate = u128::from(fee.base_units()) * 1000 / (size.max(1) as u128);
        FeeRate(u64::try_from(rate).unwrap_or(u64::MAX))
    }

    /// The smallest fee for `size` bytes at this rate.
    pub fn fee_for(self, size: usize) -> Amount {
        let fee = (u128::from(self.0) * size as u128).div_ceil(1000);
        Amount::from_base_units(u64::try_from(fee).unwrap_or(u64::MAX))
    }
}

impl fmt::Display for FeeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/kB", self.0)
    }
}

/// A minimum rate that rises when the pool evicts and decays back to the configured floor,
/// so a full pool turns away what it would evict at once without staying expensive after
/// the flood passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RollingFloor {
    raised: FeeRate,
    raised_at: Timestamp,
}

impl RollingFloor {
    pub(super) fn new() -> Self {
        RollingFloor {
            raised: FeeRate(0),
            raised_at: Timestamp(0),
        }
    }

    /// The current minimum: the raised rate halved every `half_life_ms` since it was
    /// raised, and never below `configured`.
    pub(super) fn current(
        &self,
        configured: FeeRate,
        half_life_ms: u64,
        now: Timestamp,
    ) -> FeeRate {
        let elapsed = now.as_millis().saturating_sub(self.raised_at.as_millis()) as f64;
        let decayed = self.raised.0 as f64 * 0.5f64.powf(elapsed / half_life_ms.max(1) as f64);
        configured.max(FeeRate(decayed as u64))
    }

    /// Raises the minimum above an evicted rate.
    pub(super) fn raise(
        &mut self,
        above: FeeRate,
        configured: FeeRate,
        half_life_ms: u64,
        now: Timestamp,
    ) {
        let current = self.current(configured, half_life_ms, now);
        self.raised = current.max(FeeRate(above.0.saturating_add(INCREMENTAL_RATE.0)));
        self.raised_at = now;
    }
}

/// How far above an evicted rate the minimum rises.
pub const INCREMENTAL_RATE: FeeRate = FeeRate(100);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_fees_round_trip_upwards() {
        let rate = FeeRate::of(Amount::from_base_units(156), 156);
        assert_eq!(rate, FeeRate(1000));
        assert_eq!(rate.fee_for(156), Amount::from_base_units(156));
        assert_eq!(
            FeeRate(1).fee_for(156),
            Amount::from_base_units(1),
            "rounded up"
        );
    }

    #[test]
    fn the_floor_rises_then_decays_to_the_configured_minimum() {
        let configured = FeeRate(1000);
        let mut floor = RollingFloor::new();
        assert_eq!(floor.current(configured, 1000, Timestamp(0)), configured);
        floor.raise(FeeRate(9_900), configured, 1000, Timestamp(0));
        assert_eq!(
            floor.current(configured, 1000, Timestamp(0)),
            FeeRate(10_000)
        );
        assert_eq!(
            floor.current(configured, 1000, Timestamp(1000)),
            FeeRate(5_000)
        );
        assert_eq!(
            floor.current(configured, 1000, Timestamp(100_000)),
            configured
        );
    }
}
