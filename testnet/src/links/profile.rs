//! How a one-way link behaves: delay, jitter, loss and bandwidth, each its own type, read
//! and written in the syntax `tc netem` users know (`200ms`, `5%`, `10mbit`), so the CLI,
//! the control endpoint's JSON and the status lines all say the same thing.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The longest delay or jitter a link takes: past it, every peer connection times out and
/// the fault is a cut by another name.
pub const MAX_DELAY: Duration = Duration::from_secs(10);

/// The highest loss a link takes, in parts per million (50%): beyond it TCP barely moves,
/// and a cut says so plainly.
pub const MAX_LOSS_PPM: u32 = 500_000;

/// The slowest bandwidth a link takes, in bits per second.
pub const MIN_BANDWIDTH: u64 = 8_000;

/// The fastest bandwidth a link takes, in bits per second.
pub const MAX_BANDWIDTH: u64 = 100_000_000_000;

/// Why a link setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// Not a number with a unit.
    #[error("{0:?} is not a delay: write a number and ms, s or us (200ms, 1.5s)")]
    Delay(String),
    /// Past [`MAX_DELAY`].
    #[error("{0:?} is longer than the longest delay a link takes (10s)")]
    DelayTooLong(String),
    /// Not a percentage.
    #[error("{0:?} is not a loss: write a percentage (5%, 0.5%)")]
    Loss(String),
    /// Past [`MAX_LOSS_PPM`].
    #[error("{0:?} is more loss than a link takes (50%): cut the link instead")]
    LossTooHigh(String),
    /// Not a rate.
    #[error("{0:?} is not a bandwidth: write a number and bit, kbit, mbit or gbit (10mbit)")]
    Bandwidth(String),
    /// Outside [`MIN_BANDWIDTH`]..=[`MAX_BANDWIDTH`].
    #[error("{0:?} is outside the bandwidths a link takes (8kbit to 100gbit)")]
    BandwidthOutOfRange(String),
}

/// A delay on a link: latency or jitter, at most [`MAX_DELAY`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Delay(Duration);

impl Delay {
    /// No delay.
    pub const ZERO: Delay = Delay(Duration::ZERO);

    /// The delay, if within [`MAX_DELAY`].
    pub fn new(duration: Duration) -> Option<Delay> {
        (duration <= MAX_DELAY).then_some(Delay(duration))
    }

    /// As a duration.
    pub fn duration(self) -> Duration {
        self.0
    }
}

/// `text` as a finite, non-negative number followed by one of `units` (suffix and scale,
/// longer suffixes before their endings: `ms` before `s`), scaled: `"1.5s"` with
/// `("s", 1000.0)` is 1,500. `None` for anything else. Every figure the testnet reads
/// from people (delays, bandwidths, loss, spans of time) is read by it.
pub(crate) fn scaled_number(text: &str, units: &[(&str, f64)]) -> Option<f64> {
    let trimmed = text.trim();
    let (number, scale) = units
        .iter()
        .find_map(|(unit, scale)| Some((trimmed.strip_suffix(unit)?, *scale)))?;
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * scale)
}

impl FromStr for Delay {
    type Err = ProfileError;

    fn from_str(text: &str) -> Result<Delay, ProfileError> {
        if text.trim() == "0" {
            return Ok(Delay::ZERO);
        }
        let micros = scaled_number(text, &[("us", 1.0), ("ms", 1_000.0), ("s", 1_000_000.0)])
            .ok_or_else(|| ProfileError::Delay(text.to_owned()))?;
        if micros > MAX_DELAY.as_micros() as f64 {
            return Err(ProfileError::DelayTooLong(text.to_owned()));
        }
        // In range, so the conversion is exact to the microsecond.
        Ok(Delay(Duration::from_micros(micros.round() as u64)))
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        if micros == 0 {
            write!(f, "0ms")
        } else if !micros.is_multiple_of(1_000) {
            write!(f, "{micros}us")
        } else {
            write!(f, "{}ms", micros / 1_000)
        }
    }
}

impl TryFrom<String> for Delay {
    type Error = ProfileError;
    fn try_from(text: String) -> Result<Delay, ProfileError> {
        text.parse()
    }
}

impl From<Delay> for String {
    fn from(delay: Delay) -> String {
        delay.to_string()
    }
}

/// The share of TCP segments a link loses, in parts per million, at most [`MAX_LOSS_PPM`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Loss(u32);

impl Loss {
    /// No loss.
    pub const NONE: Loss = Loss(0);

    /// The chance of losing one segment, from 0 to 1.
    pub fn probability(self) -> f64 {
        f64::from(self.0) / 1_000_000.0
    }
}

impl FromStr for Loss {
    type Err = ProfileError;

    fn from_str(text: &str) -> Result<Loss, ProfileError> {
        let ppm = scaled_number(text, &[("%", 10_000.0)])
            .ok_or_else(|| ProfileError::Loss(text.to_owned()))?
            .round();
        if ppm > f64::from(MAX_LOSS_PPM) {
            return Err(ProfileError::LossTooHigh(text.to_owned()));
        }
        Ok(Loss(ppm as u32))
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Up to four decimals of a percent: exactly the parts per million.
        let percent = format!("{:.4}", f64::from(self.0) / 10_000.0);
        let percent = percent.trim_end_matches('0').trim_end_matches('.');
        write!(f, "{percent}%")
    }
}

impl TryFrom<String> for Loss {
    type Error = ProfileError;
    fn try_from(text: String) -> Result<Loss, ProfileError> {
        text.parse()
    }
}

impl From<Loss> for String {
    fn from(loss: Loss) -> String {
        loss.to_string()
    }
}

/// A link's bandwidth in bits per second, from [`MIN_BANDWIDTH`] to [`MAX_BANDWIDTH`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Bandwidth(NonZeroU64);

impl Bandwidth {
    /// Bits per second.
    pub fn bits_per_second(self) -> u64 {
        self.0.get()
    }

    /// How long `bytes` take to go onto the link.
    pub fn time_to_send(self, bytes: usize) -> Duration {
        let bits = (bytes as f64) * 8.0;
        Duration::from_secs_f64(bits / self.0.get() as f64)
    }
}

impl FromStr for Bandwidth {
    type Err = ProfileError;

    fn from_str(text: &str) -> Result<Bandwidth, ProfileError> {
        let invalid = || ProfileError::Bandwidth(text.to_owned());
        let units = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)];
        let bits = scaled_number(&text.to_ascii_lowercase(), &units)
            .filter(|bits| *bits > 0.0)
            .ok_or_else(invalid)?
            .round();
        if !(MIN_BANDWIDTH as f64..=MAX_BANDWIDTH as f64).contains(&bits) {
            return Err(ProfileError::BandwidthOutOfRange(text.to_owned()));
        }
        NonZeroU64::new(bits as u64)
            .map(Bandwidth)
            .ok_or_else(invalid)
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bits = self.0.get();
        match [
            (1_000_000_000, "gbit"),
            (1_000_000, "mbit"),
            (1_000, "kbit"),
        ]
        .iter()
        .find(|(scale, _)| bits.is_multiple_of(*scale))
        {
            Some((scale, unit)) => write!(f, "{}{unit}", bits / scale),
            None => write!(f, "{bits}bit"),
        }
    }
}

impl TryFrom<String> for Bandwidth {
    type Error = ProfileError;
    fn try_from(text: String) -> Result<Bandwidth, ProfileError> {
        text.parse()
    }
}

impl From<Bandwidth> for String {
    fn from(bandwidth: Bandwidth) -> String {
        bandwidth.to_string()
    }
}

/// How one direction of a link treats the bytes it carries. The default is a perfect
/// link: no delay, no loss, no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkProfile {
    /// Added to every byte's trip.
    #[serde(default)]
    pub latency: Delay,
    /// Each trip is `latency` plus or minus up to this (uniformly), never below zero and
    /// never overtaking earlier bytes: TCP delivers in order.
    #[serde(default)]
    pub jitter: Delay,
    /// The share of segments lost. TCP resends a lost segment after a retransmission
    /// timeout, so over TCP loss shows as stalls, never as missing bytes.
    #[serde(default)]
    pub loss: Loss,
    /// At most this many bits per second; none for no limit.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
}

impl LinkProfile {
    /// Whether it is a perfect link.
    pub fn is_perfect(&self) -> bool {
        *self == LinkProfile::default()
    }
}

impl fmt::Display for LinkProfile {
    /// `200ms±20ms 5% loss 10mbit`, or `perfect`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match (self.latency, self.jitter) {
            (Delay::ZERO, Delay::ZERO) => {}
            (latency, Delay::ZERO) => parts.push(latency.to_string()),
            (latency, jitter) => parts.push(format!("{latency}±{jitter}")),
        }
        if self.loss != Loss::NONE {
            parts.push(format!("{} loss", self.loss));
        }
        if let Some(bandwidth) = self.bandwidth {
            parts.push(bandwidth.to_string());
        }
        if parts.is_empty() {
            write!(f, "perfect")
        } else {
            write!(f, "{}", parts.join(" "))
        }
    }
}

/// A change to a profile: the properties given replace the profile's, the others stay;
/// `perfect` first resets them all.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProfileChange {
    /// Start from a perfect link.
    #[serde(default)]
    pub perfect: bool,
    /// A new latency.
    #[serde(default)]
    pub latency: Option<Delay>,
    /// A new jitter.
    #[serde(default)]
    pub jitter: Option<Delay>,
    /// A new loss.
    #[serde(default)]
    pub loss: Option<Loss>,
    /// A new bandwidth.
    #[serde(default)]
    pub bandwidth: Option<Bandwidth>,
}

impl ProfileChange {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ProfileChange::default()
    }

    /// `profile` changed.
    pub fn apply(&self, profile: LinkProfile) -> LinkProfile {
        let base = if self.perfect {
            LinkProfile::default()
        } else {
            profile
        };
        LinkProfile {
            latency: self.latency.unwrap_or(base.latency),
            jitter: self.jitter.unwrap_or(base.jitter),
            loss: self.loss.unwrap_or(base.loss),
            bandwidth: self.bandwidth.or(base.bandwidth),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_and_print_in_netem_style() {
        for (text, micros, shown) in [
            ("200ms", 200_000, "200ms"),
            ("1.5s", 1_500_000, "1500ms"),
            ("0", 0, "0ms"),
            ("250us", 250, "250us"),
            (" 20 ms ", 20_000, "20ms"),
            ("10s", 10_000_000, "10000ms"),
        ] {
            let delay: Delay = text.parse().unwrap();
            assert_eq!(delay.duration(), Duration::from_micros(micros), "{text}");
            assert_eq!(delay.to_string(), shown);
            assert_eq!(shown.parse::<Delay>().unwrap(), delay);
        }
        for bad in ["", "200", "ms", "-5ms", "fast", "NaNms", "1e400s", "5 min"] {
            assert_eq!(
                bad.parse::<Delay>(),
                Err(ProfileError::Delay(bad.into())),
                "{bad}"
            );
        }
        assert_eq!(
            "11s".parse::<Delay>(),
            Err(ProfileError::DelayTooLong("11s".into()))
        );
    }

    #[test]
    fn losses_read_and_print_as_percentages() {
        for (text, ppm, shown) in [
            ("5%", 50_000, "5%"),
            ("0.5%", 5_000, "0.5%"),
            ("0.0001%", 1, "0.0001%"),
            ("0%", 0, "0%"),
            ("50%", 500_000, "50%"),
        ] {
            let loss: Loss = text.parse().unwrap();
            assert_eq!(loss, Loss(ppm), "{text}");
            assert_eq!(loss.to_string(), shown);
        }
        for bad in ["5", "%", "-1%", "five%", "inf%"] {
            assert_eq!(bad.parse::<Loss>(), Err(ProfileError::Loss(bad.into())));
        }
        assert_eq!(
            "51%".parse::<Loss>(),
            Err(ProfileError::LossTooHigh("51%".into()))
        );
    }

    #[test]
    fn bandwidths_read_and_print_in_bits_per_second() {
        for (text, bits, shown) in [
            ("10mbit", 10_000_000, "10mbit"),
            ("512kbit", 512_000, "512kbit"),
            ("1.5Mbit", 1_500_000, "1500kbit"),
            ("8000bit", 8_000, "8kbit"),
            ("1gbit", 1_000_000_000, "1gbit"),
            ("12345bit", 12_345, "12345bit"),
        ] {
            let bandwidth: Bandwidth = text.parse().unwrap();
            assert_eq!(bandwidth.bits_per_second(), bits, "{text}");
            assert_eq!(bandwidth.to_string(), shown);
        }
        for bad in ["10", "mbit", "0mbit", "-1kbit", "10mb/s"] {
            assert_eq!(
                bad.parse::<Bandwidth>(),
                Err(ProfileError::Bandwidth(bad.into())),
                "{bad}"
            );
        }
        for far in ["1kbit", "101gbit"] {
            assert_eq!(
                far.parse::<Bandwidth>(),
                Err(ProfileError::BandwidthOutOfRange(far.into()))
            );
        }
        let megabit: Bandwidth = "8mbit".parse().unwrap();
        assert_eq!(megabit.time_to_send(1_000_000), Duration::from_secs(1));
    }

    #[test]
    fn a_change_replaces_what_it_names_and_keeps_the_rest() {
        let start: LinkProfile =
            serde_json::from_value(serde_json::json!({"latency": "50ms", "loss": "1%"})).unwrap();
        let change = ProfileChange {
            latency: Some("200ms".parse().unwrap()),
            ..ProfileChange::default()
        };
        assert_eq!(change.apply(start).to_string(), "200ms 1% loss");
        let reset = ProfileChange {
            perfect: true,
            bandwidth: Some("1mbit".parse().unwrap()),
            ..ProfileChange::default()
        };
        assert_eq!(reset.apply(start).to_string(), "1mbit");
        assert!(ProfileChange::default().is_empty());
    }

    #[test]
    fn a_profile_round_trips_through_json_in_the_cli_syntax() {
        let profile = LinkProfile {
            latency: "200ms".parse().unwrap(),
            jitter: "20ms".parse().unwrap(),
            loss: "5%".parse().unwrap(),
            bandwidth: Some("10mbit".parse().unwrap()),
        };
        let json = serde_json::to_value(profile).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"latency": "200ms", "jitter": "20ms", "loss": "5%", "bandwidth": "10mbit"})
        );
        assert_eq!(
            serde_json::from_value::<LinkProfile>(json).unwrap(),
            profile
        );
        assert_eq!(profile.to_string(), "200ms±20ms 5% loss 10mbit");
        assert_eq!(LinkProfile::default().to_string(), "perfect");
        let partial: LinkProfile =
            serde_json::from_value(serde_json::json!({"latency": "50ms"})).unwrap();
        assert_eq!(partial.to_string(), "50ms");
        assert!(
            serde_json::from_value::<LinkProfile>(serde_json::json!({"latency": "soon"})).is_err()
        );
        assert!(serde_json::from_value::<LinkProfile>(serde_json::json!({"lag": "5ms"})).is_err());
    }
}
