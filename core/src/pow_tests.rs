//! The difficulty rule against simulated miners.

use super::*;

/// A deterministic source of exponential block times.
struct Clock(crate::testkit::SplitMix64);

impl Clock {
    /// Milliseconds until a miner doing `hashes_per_ms` meets `target`.
    fn block_time(&mut self, target: Target, hashes_per_ms: f64) -> f64 {
        let expected_hashes = target.work().to_u128_saturating() as f64;
        -self.0.unit().ln() * expected_hashes / hashes_per_ms
    }
}

const BLOCK_TIME_MS: u64 = 10_000;
const HALF_LIFE_MS: u64 = 3_600_000;
const DRIFT_MS: u64 = 15_000;
/// At this target, one block takes 2^20 hashes on average.
const EQUILIBRIUM_HASHES: f64 = (1u64 << 20) as f64;
const GENESIS_TIME: u64 = 1_700_000_000_000;

fn params() -> DifficultyParams {
    DifficultyParams {
        initial_target: Target::from_u256(U256::MAX >> 20).unwrap(),
        max_target: Target::from_u256(U256::MAX >> 8).unwrap(),
        genesis_time: Timestamp(GENESIS_TIME),
        block_time_ms: BLOCK_TIME_MS,
        half_life_ms: HALF_LIFE_MS,
    }
}

/// The hash rate at which the initial target gives the intended block time.
fn base_rate() -> f64 {
    EQUILIBRIUM_HASHES / BLOCK_TIME_MS as f64
}

struct Mined {
    /// Real time at which each block was found, ms after genesis.
    real: Vec<f64>,
    targets: Vec<Target>,
    /// The target each block would have had if its parent carried the true time.
    honest_targets: Vec<Target>,
}

/// Mines `blocks` blocks. `rate(height)` is the hash rate; `stamp(real_now, median)` is the
/// timestamp the miner writes, clamped to what the timestamp rules allow.
fn mine(
    blocks: usize,
    rate: impl Fn(usize) -> f64,
    stamp: impl Fn(u64, Timestamp) -> u64,
    drift_rule: bool,
) -> Mined {
    let params = params();
    let mut clock = Clock(crate::testkit::SplitMix64(42));
    let mut stamps = vec![Timestamp(GENESIS_TIME)];
    let mut real_now = 0.0f64;
    let mut mined = Mined {
        real: Vec::new(),
        targets: Vec::new(),
        honest_targets: Vec::new(),
    };
    for height in 1..=blocks {
        let parent = *stamps.last().unwrap();
        let target = next_target(&params, Height(height as u64 - 1), parent);
        let true_parent_time = Timestamp(GENESIS_TIME + real_now as u64);
        mined.honest_targets.push(next_target(
            &params,
            Height(height as u64 - 1),
            true_parent_time,
        ));
        real_now += clock.block_time(target, rate(height));
        let now = GENESIS_TIME + real_now as u64;
        let median = median_time_past(&stamps).unwrap();
        let mut time = stamp(now, median);
        if drift_rule {
            time = time.min(now + DRIFT_MS);
        }
        stamps.push(Timestamp(time.max(median.as_millis() + 1)));
        mined.real.push(real_now);
        mined.targets.push(target);
    }
    mined
}

fn honest(now: u64, _: Timestamp) -> u64 {
    now
}

/// The mean real time between blocks `from..to`.
fn mean_interval(mined: &Mined, from: usize, to: usize) -> f64 {
    (mined.real[to - 1] - mined.real[from - 1]) / (to - from) as f64
}

fn within_ten_percent(interval: f64) -> bool {
    (interval / BLOCK_TIME_MS as f64 - 1.0).abs() < 0.10
}

#[test]
fn block_times_return_to_target_after_hash_rate_doubles() {
    let mined = mine(
        6_000,
        |h| {
            if h <= 2_000 {
                base_rate()
            } else {
                2.0 * base_rate()
            }
        },
        honest,
        true,
    );
    let just_after = mean_interval(&mined, 2_001, 2_100);
    assert!(
        just_after < 0.8 * BLOCK_TIME_MS as f64,
        "blocks should come faster at first: {just_after}"
    );
    let settled = mean_interval(&mined, 4_000, 6_000);
    assert!(within_ten_percent(settled), "mean interval {settled} ms");
}

#[test]
fn block_times_return_to_target_after_hash_rate_halves() {
    let mined = mine(
        6_000,
        |h| {
            if h <= 2_000 {
                base_rate()
            } else {
                0.5 * base_rate()
            }
        },
        honest,
        true,
    );
    let just_after = mean_interval(&mined, 2_001, 2_100);
    assert!(
        just_after > 1.2 * BLOCK_TIME_MS as f64,
        "blocks should come slower at first: {just_after}"
    );
    let settled = mean_interval(&mined, 4_000, 6_000);
    assert!(within_ten_percent(settled), "mean interval {settled} ms");
}

/// The largest factor by which any block's target was easier than the target an honest
/// parent timestamp would have given it.
fn worst_easing(mined: &Mined) -> f64 {
    mined
        .targets
        .iter()
        .zip(&mined.honest_targets)
        .map(|(t, honest)| {
            honest.work().to_u128_saturating() as f64 / t.work().to_u128_saturating() as f64
        })
        .fold(0.0, f64::max)
}

/// Time-warp strategies: always claim a time far ahead, or stall at median + 1 for 99
/// blocks and then jump far ahead (the pattern that breaks window-based rules).
fn always_late(now: u64, _: Timestamp) -> u64 {
    now + 10 * HALF_LIFE_MS
}

fn stall_and_jump(now: u64, median: Timestamp) -> u64 {
    if (now / BLOCK_TIME_MS).is_multiple_of(100) {
        now + 10 * HALF_LIFE_MS
    } else {
        median.as_millis() + 1
    }
}

#[test]
fn lying_about_time_cannot_push_difficulty_below_a_bounded_fraction() {
    let allowance = 2f64.powf(DRIFT_MS as f64 / HALF_LIFE_MS as f64);
    let blocks = 4_000;
    let honest_run = mine(blocks, |_| base_rate(), honest, true);
    let honest_duration = honest_run.real[blocks - 1];
    for (name, strategy) in [
        ("always late", always_late as fn(u64, Timestamp) -> u64),
        ("stall and jump", stall_and_jump),
    ] {
        let run = mine(blocks, |_| base_rate(), strategy, true);
        // No block's target is easier than honest time plus the drift allows (1e-4 covers
        // the polynomial's rounding).
        let easing = worst_easing(&run);
        assert!(
            easing <= allowance * (1.0 + 1e-4),
            "{name}: a target {easing}x easier than honest"
        );
        // And lying buys no extra blocks: the same work takes as long in real time, give
        // or take the drift and a few percent of randomness.
        let duration = run.real[blocks - 1];
        assert!(
            duration >= 0.95 * honest_duration - DRIFT_MS as f64,
            "{name}: {blocks} blocks in {duration} ms, honest took {honest_duration} ms"
        );
    }
    // Without the drift rule the same lie makes targets vastly easier: the rule, not the
    // simulation, is what holds difficulty up.
    let unbounded = worst_easing(&mine(600, |_| base_rate(), always_late, false));
    assert!(
        unbounded > 100.0 * allowance,
        "unbounded lie eased targets only {unbounded}x"
    );
}

#[test]
fn on_schedule_keeps_the_initial_target() {
    let p = params();
    let on_time = Timestamp(GENESIS_TIME + 5 * BLOCK_TIME_MS);
    assert_eq!(next_target(&p, Height(5), on_time), p.initial_target);
    assert_eq!(
        next_target(&p, Height(0), Timestamp(GENESIS_TIME)),
        p.initial_target
    );
}

#[test]
fn one_half_life_behind_doubles_the_target_and_ahead_halves_it() {
    let p = params();
    let initial = p.initial_target.as_u256();
    let behind = next_target(
        &p,
        Height(10),
        Timestamp(GENESIS_TIME + 10 * BLOCK_TIME_MS + HALF_LIFE_MS),
    );
    assert_eq!(behind.as_u256(), initial << 1);
    let ahead = next_target(
        &p,
        Height(10 + HALF_LIFE_MS / BLOCK_TIME_MS),
        Timestamp(GENESIS_TIME + 10 * BLOCK_TIME_MS),
    );
    assert_eq!(ahead.as_u256(), initial >> 1);
}

#[test]
fn targets_are_clamped_to_the_valid_range() {
    let p = params();
    let far_behind = next_target(&p, Height(1), Timestamp(u64::MAX));
    assert_eq!(far_behind, p.max_target);
    let far_ahead = next_target(&p, Height(u64::MAX), Timestamp(0));
    assert_eq!(far_ahead, Target::MIN);
}

#[test]
fn median_time_past_uses_the_last_eleven() {
    assert_eq!(median_time_past(&[]), None);
    let stamps: Vec<Timestamp> = [5, 1, 9].map(Timestamp).to_vec();
    assert_eq!(median_time_past(&stamps), Some(Timestamp(5)));
    let mut many: Vec<Timestamp> = (0..20).map(Timestamp).collect();
    many.reverse(); // order must not matter beyond which eleven are last
    assert_eq!(median_time_past(&many), Some(Timestamp(5)));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn next_target_is_total_and_in_range(height: u64, time: u64, initial: [u8; 32], block_time in 1u64..u64::MAX, half_life in 1u64..u64::MAX) {
            let initial = Target::from_be_bytes(initial).unwrap_or(Target::MAX);
            let p = DifficultyParams { initial_target: initial, max_target: Target::MAX, genesis_time: Timestamp(GENESIS_TIME), block_time_ms: block_time, half_life_ms: half_life };
            let t = next_target(&p, Height(height), Timestamp(time));
            prop_assert!(t >= Target::MIN && t <= p.max_target);
        }

        #[test]
        fn later_parents_never_get_harder_targets(height in 0u64..1_000_000, a in 0u64..1u64 << 50, b in 0u64..1u64 << 50) {
            let p = params();
            let (early, late) = (a.min(b), a.max(b));
            let t_early = next_target(&p, Height(height), Timestamp(GENESIS_TIME + early));
            let t_late = next_target(&p, Height(height), Timestamp(GENESIS_TIME + late));
            prop_assert!(t_late >= t_early);
        }
    }
}

#[test]
fn nonce_search_agrees_with_the_header_hash() {
    let mut header = crate::genesis::ChainSpec::resolve("dev")
        .unwrap()
        .genesis_header();
    header.target = Target::from_u256(U256::MAX >> 6).unwrap();
    let nonce = search_nonce(&header, 0, 10_000).expect("1 in 64 hashes meets this target");
    header.nonce = nonce;
    assert!(header.meets_target());
    for earlier in 0..nonce {
        header.nonce = earlier;
        assert!(
            !header.meets_target(),
            "nonce {earlier} also meets the target"
        );
    }
}
