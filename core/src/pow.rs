//! Proof of work: the difficulty rule and the timestamp rules.
//!
//! # Difficulty: ASERT, anchored at genesis
//!
//! Every block's target is a pure function of the genesis parameters and its parent's
//! height and timestamp (the absolutely scheduled exponential rule, "aserti3-2d", of
//! Bitcoin Cash, with genesis as the anchor):
//!
//! ```text
//! target = initial_target * 2^((parent_time - genesis_time - block_time * parent_height) / half_life)
//! ```
//!
//! A chain ahead of schedule gets a harder target, a chain behind gets an easier one, and
//! every block moves toward the schedule, so the average block time returns to the target
//! after any change in hash rate. All arithmetic is integer: the exponent is computed in
//! 1/65536ths, `2^fraction` by the same cubic polynomial as aserti3-2d (error below 0.013%),
//! and the result clamped to `[1, max_target]`.
//!
//! Because the target depends only on the parent's timestamp, lying about time helps only
//! as far as the timestamp rules allow: at most `max_future_drift` ahead of real time, so a
//! miner can make the target at most `2^(drift / half_life)` easier than honest timestamps
//! would (the time-warp attack on window-based rules has no purchase here).
//!
//! # Timestamps
//!
//! A block's timestamp must exceed the median of the previous eleven blocks' timestamps
//! ([`median_time_past`]) and may not exceed the validating node's clock plus the chain's
//! `max_future_drift`.

use ruint::aliases::{U256, U512};
use sha2::{Digest, Sha256};

use crate::block::{Header, HEADER_LEN};
use crate::encoding;
use crate::types::{BlockHash, Height, Target, Timestamp};

/// How many previous timestamps the median-time-past rule looks at.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// The chain parameters the difficulty rule needs, taken from the chain spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DifficultyParams {
    /// The genesis block's target; the schedule's starting point.
    pub initial_target: Target,
    /// The easiest target any block may have.
    pub max_target: Target,
    /// The genesis timestamp.
    pub genesis_time: Timestamp,
    /// The intended time between blocks, in milliseconds (non-zero).
    pub block_time_ms: u64,
    /// How far behind (ahead of) schedule halves (doubles) the difficulty, in milliseconds
    /// (non-zero). Larger is smoother and slower to react.
    pub half_life_ms: u64,
}

/// The exponent's fixed-point scale: 16 fractional bits.
const RADIX_BITS: u32 = 16;

/// The target the child of a block at `parent_height` with `parent_time` must carry.
pub fn next_target(
    params: &DifficultyParams,
    parent_height: Height,
    parent_time: Timestamp,
) -> Target {
    let time_delta =
        i128::from(parent_time.as_millis()) - i128::from(params.genesis_time.as_millis());
    // Saturating: only absurd parameters or heights reach i128's range, and saturation
    // then clamps the target, which is the right answer for them too.
    let scheduled =
        i128::from(params.block_time_ms).saturating_mul(i128::from(parent_height.value()));
    let half_life = i128::from(params.half_life_ms.max(1));
    // Floor division, so the rounding direction never depends on the sign.
    let exponent = time_delta
        .saturating_sub(scheduled)
        .saturating_mul(1 << RADIX_BITS)
        .div_euclid(half_life);
    let shifts = exponent >> RADIX_BITS;
    let frac = u128::try_from(exponent & 0xffff).unwrap_or(0);
    // 2^(frac/65536) * 65536, by aserti3-2d's cubic approximation.
    let factor = 65_536u128
        + ((195_766_423_245_049u128 * frac
            + 971_821_376u128 * frac * frac
            + 5_127u128 * frac * frac * frac
            + (1u128 << 47))
            >> 48);
    let max = U512::from(params.max_target.as_u256());
    let mut scaled = U512::from(params.initial_target.as_u256()) * U512::from(factor);
    if shifts >= 0 {
        // An initial target below 2^256 times a factor below 2^18 needs 274 bits; any shift
        // that would leave 512 bits is far past max_target anyway.
        if shifts > 200 {
            return params.max_target;
        }
        scaled <<= shifts as usize;
    } else {
        let right = usize::try_from(-shifts).unwrap_or(usize::MAX);
        scaled = if right >= 512 {
            U512::ZERO
        } else {
            scaled >> right
        };
    }
    scaled >>= RADIX_BITS as usize;
    if scaled > max {
        return params.max_target;
    }
    let narrowed = U256::saturating_from(scaled);
    Target::from_u256(narrowed).unwrap_or(Target::MIN)
}

/// The median of up to [`MEDIAN_TIME_SPAN`] most recent timestamps (any order), or `None`
/// for an empty slice. With an even count the upper middle value is used.
pub fn median_time_past(recent: &[Timestamp]) -> Option<Timestamp> {
    let start = recent.len().saturating_sub(MEDIAN_TIME_SPAN);
    let mut window: Vec<Timestamp> = recent.get(start..)?.to_vec();
    window.sort_unstable();
    window.get(window.len() / 2).copied()
}

/// Tries `attempts` nonces from `start` and returns the first whose header hash meets the
/// header's target.
///
/// The nonce is the last 8 bytes of the header encoding, so the SHA-256 state after the
/// first 128 of the 180 bytes before it is computed once and each attempt hashes only the
/// final two blocks.
pub fn search_nonce(header: &Header, start: u64, attempts: u64) -> Option<u64> {
    let encoded = encoding::encode(header);
    let prefix = encoded.get(..HEADER_LEN - 8)?;
    let midstate = Sha256::new().chain_update(prefix);
    let target = header.target;
    (0..attempts).map(|i| start.wrapping_add(i)).find(|nonce| {
        let hash: [u8; 32] = midstate
            .clone()
            .chain_update(nonce.to_le_bytes())
            .finalize()
            .into();
        target.is_met_by(&BlockHash::from_bytes(hash))
    })
}

#[cfg(test)]
#[path = "pow_tests.rs"]
mod tests;
