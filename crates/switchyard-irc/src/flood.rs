//! Flood control for what the connection sends: the classic IRC server rule (RFC 1459, 8.10;
//! ngircd and most servers apply a form of it) seen from the client side. Each line costs
//! `interval`; a client may run at most `burst` lines ahead of the clock, then waits. So a
//! quiet connection sends `burst` lines at once and then one line per `interval`.

use std::time::Duration;

use tokio::time::Instant;

/// The send budget of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Flood {
    interval: Duration,
    burst: u32,
    /// The moment the budget is back to full; never earlier than now.
    clock: Instant,
}

impl Flood {
    /// A budget of `burst` lines (at least one), refilled one per `interval`.
    pub(crate) fn new(interval: Duration, burst: u32, now: Instant) -> Self {
        Flood {
            interval,
            burst: burst.max(1),
            clock: now,
        }
    }

    /// How long to wait before the next line may go; zero when it may go now.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        let ahead = self.clock.saturating_duration_since(now);
        let allowed = self.interval * (self.burst - 1);
        ahead.saturating_sub(allowed)
    }

    /// Records one line sent at `now` (after [`Flood::wait`] said zero).
    pub(crate) fn spend(&mut self, now: Instant) {
        self.clock = self.clock.max(now) + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_line_per_interval() {
        let start = Instant::now();
        let mut f = Flood::new(Duration::from_secs(2), 3, start);
        for _ in 0..3 {
            assert_eq!(f.wait(start), Duration::ZERO);
            f.spend(start);
        }
        assert_eq!(f.wait(start), Duration::from_secs(2), "the fourth waits");
        let later = start + Duration::from_secs(2);
        assert_eq!(f.wait(later), Duration::ZERO);
        f.spend(later);
        assert_eq!(f.wait(later), Duration::from_secs(2));
        // A long pause refills the burst, and no more than it.
        let quiet = later + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(f.wait(quiet), Duration::ZERO);
            f.spend(quiet);
        }
        assert!(f.wait(quiet) > Duration::ZERO);
    }

    #[test]
    fn a_burst_of_zero_still_sends() {
        let start = Instant::now();
        let mut f = Flood::new(Duration::from_millis(500), 0, start);
        assert_eq!(f.wait(start), Duration::ZERO);
        f.spend(start);
        assert_eq!(f.wait(start), Duration::from_millis(500));
    }
}
