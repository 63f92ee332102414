//! One sliding window (a bucket's, for one major parameter, or a global limit's): the times of
//! the last `limit` requests, kept so that every operation is O(1) amortised whatever the
//! limit.
//!
//! A request in flight counts as "not before its expiry" (sent + `probe_ttl`); its answer
//! moves it to the time of the answer. Answer times only grow (the store's clock is read
//! under its lock), and every expiry is later than every answer already recorded, so the
//! entries are two queues in time order: `answered` (oldest first, all in the past) then
//! `flying` (in sending order, all in the future). The `limit`-th most recent time is found by
//! indexing, never by sorting. Answered times older than the span that can still constrain
//! are dropped, so memory follows the traffic of the last two windows, not the limit. In-flight
//! requests are found by their integer slot id among those in flight only.

use std::collections::VecDeque;

/// A sliding window of request times, in milliseconds of the store's clock.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Times of answered requests (or expired in-flight ones), oldest first.
    answered: VecDeque<u64>,
    /// Requests in flight: (slot id, expiry), in sending order.
    flying: VecDeque<(u64, u64)>,
    /// Nothing goes before this time (`remaining: 0` or a 429).
    pub(crate) blocked_until: u64,
    /// How long an answered time can still constrain: twice the window, plus the margin.
    keep: u64,
    /// The bucket's `remaining` in the last headers seen while the limits were shared, and
    /// when its window resets: what a node falling back to local limits starts from.
    pub(crate) seen_remaining: u32,
    /// See `seen_remaining`.
    pub(crate) seen_reset: u64,
    /// Requests this node sent on local limits before `seen_reset`.
    pub(crate) spent: u32,
}

impl Window {
    /// Moves in-flight requests whose answer never came (the caller went away) to the
    /// answered queue at their expiry, and drops answered times that constrain nothing.
    fn expire(&mut self, now: u64) {
        while let Some(&(_, until)) = self.flying.front() {
            if until > now {
                break;
            }
            self.flying.pop_front();
            // keep the answered queue in order: an earlier expiry counts as the latest answer
            let last = self.answered.back().copied().unwrap_or(0);
            self.answered.push_back(until.max(last));
        }
        while let Some(&t) = self.answered.front() {
            if t.saturating_add(self.keep) >= now {
                break;
            }
            self.answered.pop_front();
        }
    }

    /// Keeps answered times as long as a window of `window` plus `margin` can use them (twice
    /// the window: room for a window learned longer later). Set before the first entry.
    pub(crate) fn reach(&mut self, window: u64, margin: u64) {
        self.keep = self.keep.max(window * 2 + margin);
    }

    /// Requests counted (answered within the kept span, and in flight).
    pub(crate) fn len(&self) -> usize {
        self.answered.len() + self.flying.len()
    }

    /// How long until one more request fits: `limit` requests at most in any interval of
    /// `window + margin`, and nothing before `blocked_until`.
    pub(crate) fn wait(&mut self, now: u64, limit: u32, window: u64, margin: u64) -> u64 {
        self.reach(window, margin);
        self.expire(now);
        let mut wait = self.blocked_until.saturating_sub(now);
        let k = limit as usize;
        if k > 0 && self.len() >= k {
            let kth = if k <= self.flying.len() {
                self.flying[self.flying.len() - k].1
            } else {
                self.answered[self.answered.len() - (k - self.flying.len())]
            };
            wait = wait.max((kth + window + margin).saturating_sub(now));
        }
        wait
    }

    /// Counts a request sent at `now` with id `slot`, in flight until `expiry`, keeping at
    /// most `limit` entries (the oldest go first).
    pub(crate) fn push(&mut self, now: u64, slot: u64, expiry: u64, limit: u32) {
        self.expire(now);
        let last = self.flying.back().map_or(0, |e| e.1);
        self.flying.push_back((slot, expiry.max(last)));
        self.trim(limit);
    }

    /// Counts a request answered at `now` that was in no window while in flight (a probe).
    pub(crate) fn push_answered(&mut self, now: u64, limit: u32) {
        self.expire(now);
        let last = self.answered.back().copied().unwrap_or(0);
        self.answered.push_back(now.max(last));
        self.trim(limit);
    }

    fn trim(&mut self, limit: u32) {
        while self.len() > limit.max(1) as usize {
            if self.answered.pop_front().is_none() {
                self.flying.pop_front();
            }
        }
    }

    /// Moves request `slot` to `now` (its answer arrived); false when it is not in flight here.
    /// Looks only among the requests in flight, oldest first (answers come mostly in order).
    pub(crate) fn complete(&mut self, slot: u64, now: u64) -> bool {
        self.expire(now);
        let Some(i) = self.flying.iter().position(|e| e.0 == slot) else {
            return false;
        };
        self.flying.remove(i);
        let last = self.answered.back().copied().unwrap_or(0);
        self.answered.push_back(now.max(last));
        true
    }

    /// Whether the window constrains nothing any more (it can be dropped).
    pub(crate) fn idle(&mut self, now: u64) -> bool {
        self.expire(now);
        self.blocked_until <= now
            && self.seen_reset <= now
            && self.flying.is_empty()
            && self.answered.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_th_most_recent_time_sets_the_wait() {
        let mut w = Window::default();
        w.push(0, 1, 5000, 3);
        w.push(0, 2, 5000, 3);
        assert_eq!(w.wait(0, 3, 1000, 0), 0);
        w.push(0, 3, 5000, 3);
        // three in flight: the oldest counts as "not before 5000"
        assert_eq!(w.wait(10, 3, 1000, 0), 5990);
        assert!(w.complete(1, 100));
        assert!(w.complete(2, 200));
        assert!(w.complete(3, 300));
        assert!(!w.complete(3, 300));
        assert_eq!(w.wait(300, 3, 1000, 50), 850);
        assert_eq!(w.wait(1050, 3, 1000, 50), 100);
        assert_eq!(w.wait(1150, 3, 1000, 50), 0);
        // a fourth entry pushes the oldest out
        w.push(1150, 4, 6150, 3);
        assert_eq!(w.len(), 3);
        assert_eq!(w.wait(1150, 3, 1000, 50), 100);
    }

    #[test]
    fn an_unanswered_request_counts_from_its_expiry_then_goes() {
        let mut w = Window::default();
        w.push(0, 7, 100, 1);
        assert_eq!(w.wait(50, 1, 1000, 0), 1050);
        assert_eq!(w.wait(150, 1, 1000, 0), 950);
        assert!(!w.complete(7, 150), "expired, no longer in flight");
        assert!(!w.idle(1100));
        assert!(w.idle(2101));
    }

    #[test]
    fn an_answer_is_kept_for_two_windows_from_the_first_entry() {
        let mut w = Window::default();
        w.reach(1000, 0);
        w.push_answered(0, 1);
        // another answer comes before anyone asked this window for a wait
        assert!(!w.complete(9, 500));
        assert_eq!(w.len(), 1);
        assert_eq!(w.wait(500, 1, 1000, 0), 500);
    }

    #[test]
    fn memory_follows_the_traffic_not_the_limit() {
        let mut w = Window::default();
        for i in 0..100_000u64 {
            let now = i / 10; // 10 requests per ms
            w.wait(now, 5_000_000, 1000, 0);
            w.push(now, i, now + 5000, 5_000_000);
            assert!(w.complete(i, now));
        }
        // at most two windows of answers are kept: 2000 ms at 10 per ms
        assert!(w.len() <= 20_010, "{}", w.len());
    }
}
