//! [`Fence`]: whether this node may still publish for a shard of a pool, and under which
//! epoch. The coordinator grants a shard with an epoch and renews the grant at every beat;
//! a node that hears no renewal for a lease (partitioned, or paused past its lease and woken
//! up still connected) holds the shard's events until it hears again, and if the shard went
//! elsewhere meanwhile it drops them: the new owner RESUMEd from the saved sequence and
//! publishes them itself (except those of a session never saved, which only this node can
//! send: see [`crate::publish`]). The epoch stamps each envelope and saved session, so that
//! consumers and the session store refuse what a fenced node sent before it noticed.
//!
//! A shard outside a pool has no fence: it is always open and has no epoch.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// The first call's instant in this process, and the Unix milliseconds it was.
fn base() -> (Instant, u64) {
    static BASE: OnceLock<(Instant, u64)> = OnceLock::new();
    *BASE.get_or_init(|| (Instant::now(), crate::command::now_ms()))
}

/// Milliseconds of `at` since the first call in this process (monotonic), at least 1.
fn ms(at: Instant) -> u64 {
    let (base, _) = base();
    u64::try_from(at.saturating_duration_since(base).as_millis()).unwrap_or(u64::MAX) + 1
}

fn now_ms() -> u64 {
    ms(Instant::now())
}

/// One shard's grant.
#[derive(Debug, Default)]
pub struct Fence {
    /// The epoch granted; 0 for none (outside a pool).
    epoch: AtomicU64,
    /// Open until then (see [`now_ms`]); 0 for always.
    until_ms: AtomicU64,
    /// The shard went elsewhere: what is left is dropped.
    lost: AtomicBool,
}

impl Fence {
    /// Renews the grant: `epoch`, open until `until`. A lower epoch than the one held is
    /// ignored (it comes from a superseded coordinator), and so is an earlier deadline.
    pub(crate) fn renew(&self, epoch: u64, until: Instant) {
        if epoch < self.epoch.load(Ordering::Acquire) {
            return;
        }
        self.epoch.store(epoch, Ordering::Release);
        self.until_ms.fetch_max(ms(until), Ordering::AcqRel);
    }

    /// The epoch of the grant, inside a pool.
    pub fn epoch(&self) -> Option<u64> {
        match self.epoch.load(Ordering::Acquire) {
            0 => None,
            e => Some(e),
        }
    }

    /// Whether events may be published now.
    pub(crate) fn open(&self) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        !self.lost.load(Ordering::Acquire) && (until == 0 || now_ms() <= until)
    }

    /// Whether the grant lapsed (no renewal for a lease), so that the shard may be elsewhere.
    pub(crate) fn lapsed(&self) -> bool {
        let until = self.until_ms.load(Ordering::Acquire);
        until != 0 && now_ms() > until
    }

    /// When the grant lapses (or lapsed), in Unix milliseconds as events are stamped on
    /// receipt; None outside a pool.
    pub(crate) fn until_unix_ms(&self) -> Option<u64> {
        match self.until_ms.load(Ordering::Acquire) {
            0 => None,
            until => Some(base().1 + until - 1),
        }
    }

    /// Marks the shard lost: nothing more is published or saved for it here.
    pub(crate) fn lose(&self) {
        self.lost.store(true, Ordering::Release);
    }

    /// Whether the shard was lost.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn outside_a_pool_it_is_always_open() {
        let f = Fence::default();
        assert!(f.open() && !f.lapsed());
        assert_eq!(f.epoch(), None);
        assert_eq!(f.until_unix_ms(), None);
    }

    #[test]
    fn the_deadline_reads_in_unix_milliseconds() {
        let f = Fence::default();
        let now = crate::command::now_ms();
        f.renew(1, Instant::now() + Duration::from_secs(60));
        let until = f.until_unix_ms().expect("a deadline");
        // a minute ahead, give or take the rounding and a stall of this test on a loaded machine
        assert!(
            (now + 59_000..now + 70_000).contains(&until),
            "{until} vs {now}"
        );
    }

    #[test]
    fn a_grant_lapses_without_renewal_and_lost_stays_closed() {
        let f = Fence::default();
        f.renew(5, Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        assert!(f.lapsed() && !f.open());
        let later = Instant::now() + Duration::from_secs(60);
        f.renew(4, later);
        assert!(f.lapsed(), "a lower epoch renews nothing");
        f.renew(6, later);
        assert!(f.open());
        assert_eq!(f.epoch(), Some(6));
        f.lose();
        assert!(!f.open() && f.is_lost());
    }
}
