//! The invalid-request budget: Discord bans an IP for a while after 10,000 responses with
//! status 401, 403 or 429 (except `shared`-scope 429s) in 10 minutes. This counts them in ten
//! one-minute slots and raises a warning metric well before the limit.

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

/// Discord's limit per 10 minutes.
pub const DISCORD_INVALID_LIMIT: u32 = 10_000;

/// Counts invalid responses over the last 10 minutes.
#[derive(Debug)]
pub struct Budget {
    start: Instant,
    warn_at: u32,
    /// (minute, count) per slot.
    slots: Mutex<[(u64, u32); 10]>,
}

impl Budget {
    /// A budget that warns at `warn_at` invalid responses per 10 minutes.
    pub fn new(warn_at: u32) -> Self {
        Budget {
            start: Instant::now(),
            warn_at,
            slots: Mutex::new([(u64::MAX, 0); 10]),
        }
    }

    fn minute(&self) -> u64 {
        self.start.elapsed().as_secs() / 60
    }

    /// Records a response; returns the count over the last 10 minutes when it was invalid.
    pub fn record(&self, status: u16, shared_scope: bool) -> Option<u32> {
        if !(matches!(status, 401 | 403) || (status == 429 && !shared_scope)) {
            return None;
        }
        let minute = self.minute();
        let total = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            let slot = &mut slots[(minute % 10) as usize];
            if slot.0 != minute {
                *slot = (minute, 0);
            }
            slot.1 += 1;
            Self::sum(&slots, minute)
        };
        metrics::gauge!("switchyard_rest_invalid_requests_10m").set(f64::from(total));
        let warn = total >= self.warn_at;
        metrics::gauge!("switchyard_rest_invalid_request_budget_warning").set(if warn {
            1.0
        } else {
            0.0
        });
        if warn && total % 100 == self.warn_at % 100 {
            tracing::warn!(
                invalid_10m = total,
                limit = DISCORD_INVALID_LIMIT,
                "invalid-request budget running low: Discord bans the IP at 10,000 401/403/429 responses per 10 minutes"
            );
        }
        Some(total)
    }

    fn sum(slots: &[(u64, u32); 10], minute: u64) -> u32 {
        slots
            .iter()
            .filter(|(m, _)| *m != u64::MAX && minute.saturating_sub(*m) < 10)
            .map(|(_, c)| c)
            .sum()
    }

    /// Invalid responses over the last 10 minutes.
    pub fn used(&self) -> u32 {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        Self::sum(&slots, self.minute())
    }

    /// Whether the warning level is reached.
    pub fn warning(&self) -> bool {
        self.used() >= self.warn_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_invalid_responses_and_warns() {
        let b = Budget::new(3);
        assert_eq!(b.record(200, false), None);
        assert_eq!(b.record(404, false), None);
        assert_eq!(b.record(429, true), None, "shared 429s do not count");
        assert_eq!(b.record(401, false), Some(1));
        assert_eq!(b.record(403, false), Some(2));
        assert!(!b.warning());
        assert_eq!(b.record(429, false), Some(3));
        assert!(b.warning());
    }
}
