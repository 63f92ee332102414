//! [`Backlog`]: how many of a shard's queued items the publisher has settled, so that a new
//! session is identified only once the broker took every event of the old one.
//!
//! Without that wait, a shard whose session Discord invalidated while the broker was down
//! would identify a new session at once and queue its events behind the old one's. Were the
//! shard then stopped before the broker came back (its queue dropped), the events of every
//! session after the saved one would be gone with no gap report: the store names the saved
//! session, whose gap report covers only that session. Waiting keeps at most one session
//! behind the saved one in the queue; the events Discord sends meanwhile belong to no
//! session yet, and the gap report of the old session covers them.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

/// Items handed to a shard's publisher and items it settled (published, or dropped for a
/// shard that went elsewhere).
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    pushed: AtomicU64,
    settled: AtomicU64,
    changed: Notify,
}

impl Backlog {
    /// The runner queued one more item.
    pub(crate) fn pushed(&self) {
        self.pushed.fetch_add(1, Ordering::AcqRel);
    }

    /// The publisher settled `n` more items.
    pub(crate) fn settled(&self, n: u64) {
        self.settled.fetch_add(n, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// Whether every item queued so far was settled.
    pub(crate) fn is_drained(&self) -> bool {
        let pushed = self.pushed.load(Ordering::Acquire);
        self.settled.load(Ordering::Acquire) >= pushed
    }

    /// Resolves once every item queued before the call was settled.
    pub(crate) async fn drained(&self) {
        let pushed = self.pushed.load(Ordering::Acquire);
        loop {
            let mut changed = pin!(self.changed.notified());
            changed.as_mut().enable();
            if self.settled.load(Ordering::Acquire) >= pushed {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn drained_waits_for_what_was_queued_before() {
        let b = Arc::new(Backlog::default());
        b.drained().await; // nothing queued
        b.pushed();
        b.pushed();
        assert!(!b.is_drained());
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.drained().await }
        });
        b.settled(1);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "one of two settled");
        b.pushed(); // queued after the wait began: not waited for
        b.settled(1);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("drained once both were settled")
            .expect("the task");
        assert!(!b.is_drained());
    }
}
