//! The one backoff every retry loop of the service waits by: the event store's raced commands,
//! the relay's failed rounds, a queue's failed receives, the read API's wait for a version, and
//! the notifier's schedule of webhook attempts.
//!
//! Each wait doubles from `first` up to `max`, and only a random half of it is certain ("equal
//! jitter"): processes that failed together (a database failover, a receiver back up) do not
//! come back in step, and none waits less than half its share.

use std::time::Duration;

/// A doubling, capped, jittered wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// Waits that start at `first` and double up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The longest wait before try `attempt` (1 for the first retry): `first` doubled for
    /// each earlier one, at most `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// The wait before try `attempt`: between half the [`ceiling`](Self::ceiling) and all
    /// of it, at random.
    pub fn delay(&self, attempt: u32) -> Duration {
        let half = self.ceiling(attempt) / 2;
        half + half.mul_f64(fastrand::f64())
    }

    /// Sleeps for [`delay`](Self::delay).
    pub async fn wait(&self, attempt: u32) {
        tokio::time::sleep(self.delay(attempt)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_up_to_the_cap_with_a_random_half() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(3));
        for attempt in 1..=40u32 {
            let ceiling = Duration::from_millis(100 * 2u64.pow(attempt.min(10) - 1))
                .min(Duration::from_secs(3));
            assert_eq!(backoff.ceiling(attempt), ceiling, "attempt {attempt}");
            for _ in 0..50 {
                let delay = backoff.delay(attempt);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "attempt {attempt}: {delay:?} outside {:?}..={ceiling:?}",
                    ceiling / 2
                );
            }
        }
    }

    #[test]
    fn the_jitter_spreads_the_waits() {
        let backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let delays: std::collections::BTreeSet<_> = (0..20).map(|_| backoff.delay(1)).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
