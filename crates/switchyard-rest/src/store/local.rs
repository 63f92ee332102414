//! The in-process store: the rules of [`super`] over a few maps behind one mutex (critical
//! sections are a handful of map lookups, far below a microsecond).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::{Ask, Decision, Observed};

/// A log of the last `limit` requests: (time in ms, slot id). In-flight requests carry a time
/// in the future until their response arrives.
#[derive(Debug, Default)]
struct Log {
    entries: Vec<(u64, String)>,
    blocked_until: u64,
}

impl Log {
    fn wait(&self, now: u64, limit: u32, window: u64, margin: u64) -> u64 {
        let mut wait = self.blocked_until.saturating_sub(now);
        let limit = limit as usize;
        if limit > 0 && self.entries.len() >= limit {
            let mut times: Vec<u64> = self.entries.iter().map(|e| e.0).collect();
            times.sort_unstable_by(|a, b| b.cmp(a));
            wait = wait.max((times[limit - 1] + window + margin).saturating_sub(now));
        }
        wait
    }

    fn push(&mut self, time: u64, slot: &str, limit: u32) {
        self.entries.push((time, slot.to_owned()));
        while self.entries.len() > limit.max(1) as usize {
            if let Some(i) = (0..self.entries.len()).min_by_key(|&i| self.entries[i].0) {
                self.entries.swap_remove(i);
            }
        }
    }

    /// Sets the time of `slot` to `now` (its response arrived); false when it is not here.
    fn complete(&mut self, slot: &str, now: u64) -> bool {
        match self.entries.iter_mut().find(|e| e.1 == slot) {
            Some(e) => {
                e.0 = now;
                true
            }
            None => false,
        }
    }

    fn idle(&self, now: u64, window: u64) -> bool {
        self.blocked_until <= now && self.entries.iter().all(|e| e.0 + window * 2 < now)
    }
}

/// Limit and window of a learned bucket.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    limit: u32,
    window: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (scope, route) → bucket.
    routes: HashMap<(String, String), String>,
    /// (scope, bucket) → limit and window.
    meta: HashMap<(String, String), Meta>,
    /// (scope, bucket, major) → log.
    buckets: HashMap<(String, String, String), Log>,
    /// (scope, route, major) → probe expiry.
    probes: HashMap<(String, String, String), u64>,
    /// global key → (rate window, log).
    globals: HashMap<String, (u64, Log)>,
}

/// Limits kept in this process.
#[derive(Debug)]
pub struct LocalStore {
    start: Instant,
    inner: Mutex<Inner>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore {
            start: Instant::now(),
            inner: Mutex::default(),
        }
    }
}

fn k2(a: &str, b: &str) -> (String, String) {
    (a.to_owned(), b.to_owned())
}

fn k3(a: &str, b: &str, c: &str) -> (String, String, String) {
    (a.to_owned(), b.to_owned(), c.to_owned())
}

impl LocalStore {
    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// See [`super::Store::acquire`].
    pub fn acquire(&self, ask: &Ask<'_>) -> Decision {
        let now = self.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut gwait = 0;
        if let Some((key, limit, window)) = ask.global
            && let Some((_, log)) = inner.globals.get(key)
        {
            gwait = log.wait(now, limit, window, ask.margin_ms);
        }
        let bucket = inner.routes.get(&k2(ask.scope, ask.route)).cloned();
        let (bwait, probe) = match &bucket {
            None => {
                let key = k3(ask.scope, ask.route, ask.major);
                let held = inner.probes.get(&key).copied().filter(|&exp| exp > now);
                (held.map_or(0, |exp| exp - now), true)
            }
            Some(b) => {
                let meta = inner
                    .meta
                    .get(&k2(ask.scope, b))
                    .copied()
                    .unwrap_or_default();
                let wait = inner
                    .buckets
                    .get(&k3(ask.scope, b, ask.major))
                    .map_or(0, |log| {
                        log.wait(now, meta.limit, meta.window, ask.margin_ms)
                    });
                // a probe of this major still in flight (sent before another major's
                // response taught the bucket) is in no log yet: wait until it is counted
                match inner.probes.get(&k3(ask.scope, ask.route, ask.major)) {
                    Some(&exp) if exp > now && exp - now > wait => (exp - now, true),
                    _ => (wait, false),
                }
            }
        };
        if gwait > 0 || bwait > 0 {
            return Decision::Wait {
                ms: gwait.max(bwait),
                global: gwait >= bwait,
                probe: probe && gwait < bwait,
            };
        }
        if let Some((key, limit, window)) = ask.global {
            let entry = inner.globals.entry(key.to_owned()).or_default();
            entry.0 = window;
            entry.1.push(now + ask.probe_ttl_ms, ask.slot, limit);
        }
        match bucket {
            None => {
                inner
                    .probes
                    .insert(k3(ask.scope, ask.route, ask.major), now + ask.probe_ttl_ms);
            }
            Some(b) => {
                let meta = inner
                    .meta
                    .get(&k2(ask.scope, &b))
                    .copied()
                    .unwrap_or_default();
                if meta.limit > 0 {
                    inner
                        .buckets
                        .entry(k3(ask.scope, &b, ask.major))
                        .or_default()
                        .push(now + ask.probe_ttl_ms, ask.slot, meta.limit);
                }
            }
        }
        Decision::Go { probe }
    }

    /// See [`super::Store::observe`].
    pub fn observe(&self, ask: &Ask<'_>, seen: &Observed) {
        let now = self.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let was_probe = inner
            .probes
            .remove(&k3(ask.scope, ask.route, ask.major))
            .is_some();
        if let Some((key, _, _)) = ask.global
            && let Some((_, log)) = inner.globals.get_mut(key)
        {
            log.complete(ask.slot, now);
        }
        if let Some(bucket) = &seen.bucket {
            inner
                .routes
                .insert(k2(ask.scope, ask.route), bucket.clone());
            let meta = inner.meta.entry(k2(ask.scope, bucket)).or_default();
            meta.limit = seen.limit;
            meta.window = meta.window.max(seen.reset_after_ms);
            let log = inner
                .buckets
                .entry(k3(ask.scope, bucket, ask.major))
                .or_default();
            if !log.complete(ask.slot, now) && was_probe {
                // the first request of the bucket counts in its window too
                log.push(now, ask.slot, seen.limit);
            }
            let mut block = 0;
            if seen.remaining == 0 && seen.reset_after_ms > 0 {
                block = now + seen.reset_after_ms + ask.margin_ms;
            }
            if let (Some(retry), false) = (seen.retry_after_ms, seen.global) {
                block = block.max(now + retry + ask.margin_ms);
            }
            log.blocked_until = log.blocked_until.max(block);
        } else if let (Some(retry), false) = (seen.retry_after_ms, seen.global) {
            // a 429 on a route whose bucket is unknown: hold its next probe back
            inner.probes.insert(
                k3(ask.scope, ask.route, ask.major),
                now + retry + ask.margin_ms,
            );
        }
        if let (Some(retry), true, Some((key, _, window))) =
            (seen.retry_after_ms, seen.global, ask.global)
        {
            let entry = inner.globals.entry(key.to_owned()).or_default();
            entry.0 = window;
            entry.1.blocked_until = entry.1.blocked_until.max(now + retry + ask.margin_ms);
        }
    }

    /// Drops logs and probes that no longer constrain anything.
    pub fn sweep(&self) {
        let now = self.now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        let meta = &inner.meta;
        inner.buckets.retain(|(scope, bucket, _), log| {
            let window = meta
                .get(&(scope.clone(), bucket.clone()))
                .map_or(0, |m| m.window);
            !log.idle(now, window)
        });
        inner.probes.retain(|_, exp| *exp > now);
        inner
            .globals
            .retain(|_, (window, log)| !log.idle(now, *window));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask<'a>(route: &'a str, major: &'a str) -> Ask<'a> {
        Ask {
            scope: "bot",
            route,
            major,
            global: Some(("g", 3, 1000)),
            margin_ms: 0,
            probe_ttl_ms: 5000,
            slot: "s",
        }
    }

    #[test]
    fn probe_then_learned_bucket_then_global() {
        let s = LocalStore::default();
        let a = ask("POST /c", "channels/1");
        assert_eq!(s.acquire(&a), Decision::Go { probe: true });
        assert!(matches!(s.acquire(&a), Decision::Wait { probe: true, .. }));
        let seen = Observed {
            bucket: Some("h".into()),
            limit: 2,
            remaining: 1,
            reset_after_ms: 1000,
            ..Observed::default()
        };
        s.observe(&a, &seen);
        // the probe counts in the window: one more for channel 1, then the bucket is full
        assert_eq!(s.acquire(&a), Decision::Go { probe: false });
        assert!(matches!(
            s.acquire(&a),
            Decision::Wait {
                global: false,
                probe: false,
                ..
            }
        ));
        // channel 2 has its own bucket log; its first request spends the global limit (3)
        let b = ask("POST /c", "channels/2");
        assert_eq!(s.acquire(&b), Decision::Go { probe: false });
        assert!(matches!(s.acquire(&b), Decision::Wait { global: true, .. }));
        let exempt = Ask { global: None, ..b };
        assert_eq!(s.acquire(&exempt), Decision::Go { probe: false });
    }

    #[test]
    fn remaining_zero_and_429_block() {
        let s = LocalStore::default();
        let a = Ask {
            global: None,
            ..ask("GET /x", "")
        };
        assert_eq!(s.acquire(&a), Decision::Go { probe: true });
        s.observe(
            &a,
            &Observed {
                bucket: Some("b".into()),
                limit: 10,
                remaining: 0,
                reset_after_ms: 300,
                ..Observed::default()
            },
        );
        match s.acquire(&a) {
            Decision::Wait { ms, global, .. } => assert!(ms > 250 && !global, "{ms}"),
            d => panic!("{d:?}"),
        }
    }
}
