//! A token bucket: what a peer may ask of us per second, with a burst after a quiet
//! spell. Going over it is never misbehaviour (a link that stalled delivers a backlog
//! at once); what is over is answered less, not punished.

use std::time::Instant;

/// Requests a peer may still make now, refilled at a steady rate up to a burst.
#[derive(Debug)]
pub(crate) struct Budget {
    tokens: f64,
    at: Instant,
    per_sec: f64,
    burst: f64,
}

impl Budget {
    /// A full budget of `burst`, refilled at `per_sec`.
    pub(crate) fn new(per_sec: f64, burst: f64) -> Budget {
        Budget {
            tokens: burst,
            at: Instant::now(),
            per_sec,
            burst,
        }
    }

    /// Spends `cost` if the budget holds it; otherwise spends nothing.
    pub(crate) fn spend(&mut self, cost: usize) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.per_sec;
        self.at = now;
        self.tokens = (self.tokens + refill).min(self.burst);
        let fits = self.tokens >= cost as f64;
        if fits {
            self.tokens -= cost as f64;
        }
        fits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_spent_whole_and_what_is_over_spends_nothing() {
        let mut budget = Budget::new(0.0, 10.0);
        assert!(budget.spend(4));
        assert!(!budget.spend(7), "6 left");
        assert!(budget.spend(6));
        assert!(!budget.spend(1));
    }

    #[test]
    fn it_refills_up_to_the_burst() {
        let mut budget = Budget::new(1e9, 5.0);
        assert!(budget.spend(5));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(budget.spend(5), "refilled");
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(!budget.spend(6), "never above the burst");
    }
}
