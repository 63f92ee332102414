//! [`RetryPolicy`]: exponential backoff for connecting and reconnecting.

use std::time::Duration;

/// How often and how long to retry a connection.
///
/// The first connection makes up to `attempts` tries (`None`: until it succeeds), waiting
/// `initial`, then twice as long each time, at most `max`. Reconnecting after a lost
/// connection always retries until it succeeds, with the same delays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first delay.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// How many attempts the first connection makes; `None` retries forever.
    pub attempts: Option<u32>,
}

impl Default for RetryPolicy {
    /// 100 ms doubling up to 5 s, 5 attempts to connect at start.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: Some(5),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1 for the first retry).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1).min(20))
            .unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// Whether another attempt may follow attempt number `done`.
    pub fn may_retry(&self, done: u32) -> bool {
        self.attempts.is_none_or(|max| done < max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
            attempts: Some(3),
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(3), Duration::from_millis(350));
        assert_eq!(p.delay(1000), Duration::from_millis(350));
        assert!(p.may_retry(2) && !p.may_retry(3));
    }
}
