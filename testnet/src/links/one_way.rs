//! One direction of a link between two nodes: its setting (a profile, and whether it is
//! cut), the bytes it carried, and when the bytes read from its sender now reach the
//! other end.
//!
//! Every connection from node A to node B shares A→B's one-way link (and B→A's for the
//! answers), so a bandwidth is the link's, not each connection's, and a setting changed
//! from the control surface reaches every open connection at once through a `watch`.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use tokio::time::Instant;

use super::profile::LinkProfile;

/// The payload of one TCP segment on loopback with the usual options; loss is drawn per
/// segment.
const SEGMENT: usize = 1_448;

/// The shortest retransmission timeout, Linux's: a lost segment arrives at least this
/// late.
const MIN_RTO: Duration = Duration::from_millis(200);

/// The most times one segment is lost in a row: each loss doubles the wait, as TCP's
/// backoff does, and past this the connection would have timed out anyway.
const MAX_RETRANSMISSIONS: u32 = 6;

/// What a one-way link does now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Setting {
    /// How it treats bytes.
    pub(super) profile: LinkProfile,
    /// No byte crosses while it is cut; they wait, as TCP's would, until it heals.
    pub(super) cut: bool,
}

/// When the link is next free to send, and the randomness of its jitter and loss.
#[derive(Debug)]
struct Clock {
    free_at: Instant,
    rng: ChaCha8Rng,
}

/// One direction of a link.
#[derive(Debug)]
pub(super) struct OneWay {
    setting: watch::Sender<Setting>,
    clock: Mutex<Clock>,
    /// Bytes delivered to the far end.
    bytes: AtomicU64,
    /// Connections open over it.
    connections: AtomicUsize,
}

impl OneWay {
    /// A link with `profile`, its jitter and loss drawn from `seed`.
    pub(super) fn new(profile: LinkProfile, seed: u64) -> OneWay {
        OneWay {
            setting: watch::Sender::new(Setting {
                profile,
                cut: false,
            }),
            clock: Mutex::new(Clock {
                free_at: Instant::now(),
                rng: ChaCha8Rng::seed_from_u64(seed),
            }),
            bytes: AtomicU64::new(0),
            connections: AtomicUsize::new(0),
        }
    }

    /// What it does now.
    pub(super) fn setting(&self) -> Setting {
        *self.setting.borrow()
    }

    /// Follows its setting.
    pub(super) fn watch(&self) -> watch::Receiver<Setting> {
        self.setting.subscribe()
    }

    /// Changes its setting for every connection over it.
    pub(super) fn change(&self, change: impl FnOnce(&mut Setting)) {
        self.setting.send_modify(change);
    }

    /// Bytes delivered so far.
    pub(super) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(super) fn delivered(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Connections open over it.
    pub(super) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Counts a connection while the guard lives.
    pub(super) fn open(self: &std::sync::Arc<OneWay>) -> OpenConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        OpenConnection(std::sync::Arc::clone(self))
    }

    /// When `len` bytes read from the sender at `now` reach the far end: after the link
    /// has sent what came before them (its bandwidth), its latency plus or minus jitter,
    /// and a retransmission timeout for each time one of their segments is lost. A
    /// connection keeps its bytes in order on top of this.
    pub(super) fn arrival(&self, len: usize, now: Instant) -> Instant {
        let profile = self.setting().profile;
        let mut clock = match self.clock.lock() {
            Ok(clock) => clock,
            // The lock guards plain numbers: a panic elsewhere leaves them usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        let sent = match profile.bandwidth {
            Some(bandwidth) => {
                let start = clock.free_at.max(now);
                clock.free_at = start + bandwidth.time_to_send(len);
                clock.free_at
            }
            None => now,
        };
        let latency = profile.latency.duration();
        let jitter = profile.jitter.duration();
        let trip = if jitter.is_zero() {
            latency
        } else {
            // Uniform in [latency - jitter, latency + jitter], never below zero.
            let unit = (clock.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let offset = jitter.mul_f64(2.0 * unit);
            (latency + offset).saturating_sub(jitter)
        };
        let loss = profile.loss.probability();
        let mut resent = Duration::ZERO;
        if loss > 0.0 {
            let rto = MIN_RTO + 2 * latency;
            for _ in 0..len.div_ceil(SEGMENT) {
                let mut wait = Duration::ZERO;
                let mut timeout = rto;
                for _ in 0..MAX_RETRANSMISSIONS {
                    let draw = (clock.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                    if draw >= loss {
                        break;
                    }
                    wait += timeout;
                    timeout *= 2;
                }
                resent = resent.max(wait);
            }
        }
        sent + trip + resent
    }
}

/// A connection counted on a one-way link until dropped.
#[derive(Debug)]
pub(super) struct OpenConnection(std::sync::Arc<OneWay>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(text: &str) -> LinkProfile {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_perfect_link_delivers_at_once() {
        let link = OneWay::new(LinkProfile::default(), 1);
        let now = Instant::now();
        assert_eq!(link.arrival(100_000, now), now);
    }

    #[test]
    fn latency_and_jitter_stay_within_their_bounds() {
        let link = OneWay::new(profile(r#"{"latency":"50ms","jitter":"20ms"}"#), 7);
        let now = Instant::now();
        let trips: Vec<Duration> = (0..2_000).map(|_| link.arrival(100, now) - now).collect();
        let (min, max) = (trips.iter().min().unwrap(), trips.iter().max().unwrap());
        assert!(*min >= Duration::from_millis(30) && *max <= Duration::from_millis(70));
        // Spread over the whole range, not stuck at one value.
        assert!(*min < Duration::from_millis(32) && *max > Duration::from_millis(68));
    }

    #[test]
    fn bandwidth_queues_bytes_behind_each_other() {
        let link = OneWay::new(profile(r#"{"bandwidth":"8mbit"}"#), 1);
        let now = Instant::now();
        // 8 Mbit/s is a megabyte a second: two 500 kB sends take a second in all.
        assert_eq!(link.arrival(500_000, now) - now, Duration::from_millis(500));
        assert_eq!(link.arrival(500_000, now) - now, Duration::from_secs(1));
    }

    #[test]
    fn loss_shows_as_retransmission_stalls_on_about_its_share_of_segments() {
        let link = OneWay::new(profile(r#"{"latency":"10ms","loss":"10%"}"#), 3);
        let now = Instant::now();
        let sends = 10_000;
        let stalled = (0..sends)
            .map(|_| link.arrival(SEGMENT, now) - now)
            .filter(|trip| *trip >= Duration::from_millis(10) + MIN_RTO)
            .count();
        // One segment per send, lost 10% of the time: 1,000 expected.
        assert!((800..1_200).contains(&stalled), "{stalled} stalled");
    }
}
