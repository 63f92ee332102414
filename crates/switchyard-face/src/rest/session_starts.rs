//! [`SessionStarts`]: the face's own session start limit. Clients' IDENTIFYs never reach
//! Discord (the face answers them from the bot's state), so they spend no part of the bot's
//! Discord limit; the face keeps a limit of its own, generous by default, so that a client
//! stuck in an identify loop is still noticed and stopped. `/gateway/bot` reports it; the
//! WebSocket side counts each IDENTIFY with [`SessionStarts::try_start`].

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The face's session start limit: at most `total` IDENTIFYs per `period`, the period
/// starting at the first IDENTIFY after the previous one ended (as Discord counts them).
/// Cheap to clone; clones share the count.
#[derive(Debug, Clone)]
pub struct SessionStarts {
    total: u32,
    period: Duration,
    window: Arc<Mutex<Window>>,
}

#[derive(Debug, Default)]
struct Window {
    /// When the current period began (`None`: no IDENTIFY in a running period).
    began: Option<Instant>,
    /// IDENTIFYs counted in it.
    used: u32,
}

/// The limit as `/gateway/bot`'s `session_start_limit` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// IDENTIFYs allowed per period.
    pub total: u32,
    /// IDENTIFYs left in the current period.
    pub remaining: u32,
    /// Time until the period ends (the whole period when none is running).
    pub reset_after: Duration,
}

impl SessionStarts {
    /// Discord's limit for most bots is 1000 per day; the face allows as many.
    pub const DEFAULT_TOTAL: u32 = 1000;
    /// The period of Discord's limit: 24 hours.
    pub const DEFAULT_PERIOD: Duration = Duration::from_secs(24 * 3600);

    /// A limit of `total` IDENTIFYs per `period`.
    pub fn new(total: u32, period: Duration) -> Self {
        SessionStarts {
            total,
            period,
            window: Arc::default(),
        }
    }

    /// Counts one IDENTIFY; `false` (and nothing counted) when none is left in the period.
    pub fn try_start(&self) -> bool {
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        self.roll(&mut w, now);
        if w.used >= self.total {
            return false;
        }
        w.began.get_or_insert(now);
        w.used += 1;
        true
    }

    /// The limit now.
    pub fn limit(&self) -> SessionStartLimit {
        let now = Instant::now();
        let mut w = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        self.roll(&mut w, now);
        SessionStartLimit {
            total: self.total,
            remaining: self.total.saturating_sub(w.used),
            reset_after: w.began.map_or(self.period, |began| {
                (began + self.period).saturating_duration_since(now)
            }),
        }
    }

    /// Ends the period once it is over.
    fn roll(&self, w: &mut Window, now: Instant) {
        if w.began.is_some_and(|began| now >= began + self.period) {
            *w = Window::default();
        }
    }
}

impl Default for SessionStarts {
    /// [`SessionStarts::DEFAULT_TOTAL`] per [`SessionStarts::DEFAULT_PERIOD`].
    fn default() -> Self {
        SessionStarts::new(Self::DEFAULT_TOTAL, Self::DEFAULT_PERIOD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_are_counted_until_none_is_left() {
        let starts = SessionStarts::new(2, Duration::from_secs(3600));
        let fresh = starts.limit();
        assert_eq!((fresh.total, fresh.remaining), (2, 2));
        assert_eq!(fresh.reset_after, Duration::from_secs(3600));
        let shared = starts.clone();
        assert!(shared.try_start());
        assert!(starts.try_start());
        assert!(!starts.try_start(), "the third start of two is refused");
        let spent = starts.limit();
        assert_eq!(spent.remaining, 0);
        assert!(spent.reset_after <= Duration::from_secs(3600));
    }

    #[test]
    fn a_period_that_is_over_starts_afresh() {
        let starts = SessionStarts::new(1, Duration::ZERO);
        assert!(starts.try_start());
        // A period of zero is over as soon as it began.
        assert!(starts.try_start());
        assert_eq!(starts.limit().remaining, 1);
    }
}
