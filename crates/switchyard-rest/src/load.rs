//! What each bucket queue of the limiter has seen, for the dashboard's busiest buckets and the
//! `queued` figure: requests sent and requests waiting now, per route and major parameter.
//! Two atomics per queue, touched where the limiter already holds the queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// The counters of one queue (one token, route and major parameter).
#[derive(Debug, Default)]
pub(crate) struct Load {
    sent: AtomicU64,
    waiting: AtomicU64,
}

impl Load {
    /// Counts a request as waiting until the returned guard is dropped.
    pub(crate) fn wait(self: &Arc<Self>) -> Waiting {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(self.clone())
    }

    /// Counts a request given its slot.
    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn figures(&self) -> (u64, u64) {
        (
            self.sent.load(Ordering::Relaxed),
            self.waiting.load(Ordering::Relaxed),
        )
    }
}

/// A request waiting in its queue or for a slot; dropping it ends the wait.
#[derive(Debug)]
pub(crate) struct Waiting(Arc<Load>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One bucket as [`crate::Limiter::buckets`] reports it (summed over tokens).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BucketLoad {
    /// The route key, such as `POST /channels/{id}/messages`.
    pub route: String,
    /// The major parameter, such as `channels/1` (empty for routes without one).
    pub major: String,
    /// Requests given a slot since the queue was created (queues idle for `idle_evict` are
    /// dropped, and count from 0 again).
    pub sent: u64,
    /// Requests waiting now, in the queue or for a slot.
    pub waiting: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_when_its_guard_drops() {
        let load = Arc::new(Load::default());
        let first = load.wait();
        let second = load.wait();
        assert_eq!(load.figures(), (0, 2));
        drop(first);
        load.sent();
        assert_eq!(load.figures(), (1, 1));
        drop(second);
        assert_eq!(load.figures(), (1, 0));
    }
}
