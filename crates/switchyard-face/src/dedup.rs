//! [`Recent`]: the ids of the events the face has taken lately, so that an event published
//! twice reaches its clients once. A gateway that crashed resumes its upstream session from
//! the sequence it last saved, and Discord replays what came after, some of which it had
//! published already; a broker that deduplicates (Redis Streams, JetStream) drops those, and
//! plain pub/sub does not.

use std::collections::{HashSet, VecDeque};

/// How many ids are remembered: far more than a gateway replays after a crash (the events
/// between its last session save and the crash).
pub(crate) const REMEMBERED: usize = 65_536;

/// The last ids taken, oldest first.
#[derive(Debug)]
pub(crate) struct Recent {
    set: HashSet<u128>,
    order: VecDeque<u128>,
    cap: usize,
}

impl Recent {
    pub(crate) fn new(cap: usize) -> Self {
        Recent {
            set: HashSet::with_capacity(cap.min(REMEMBERED)),
            order: VecDeque::with_capacity(cap.min(REMEMBERED)),
            cap: cap.max(1),
        }
    }

    /// Whether `id` is new (and remembers it), or was taken among the last `cap`.
    pub(crate) fn first_time(&mut self, id: u128) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.cap
            && let Some(oldest) = self.order.pop_front()
        {
            self.set.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_new_once_within_the_window() {
        let mut recent = Recent::new(3);
        assert!(recent.first_time(1) && recent.first_time(2));
        assert!(!recent.first_time(1), "a replay of 1");
        assert!(recent.first_time(3) && recent.first_time(4));
        // 1 fell out of the window
        assert!(recent.first_time(1));
        assert!(!recent.first_time(4));
    }
}
