//! The in-process store: the rules of [`super`] over a few maps behind one mutex. A request
//! costs a handful of hash lookups (keys written into reused buffers, so nothing is allocated
//! once its bucket is known) and O(1) amortised work on its windows ([`Window`]), whatever
//! the limits. [`LocalStore::sweep`] drops what constrains nothing any more, so memory follows
//! the buckets in use.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use hashbrown::HashMap;

use super::window::Window;
use super::{Ask, Decision, Observed};

/// Limit and window of a learned bucket, and until when it can matter.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    limit: u32,
    window: u64,
    /// Past this time no window of the bucket constrains anything (sweep drops it).
    until: u64,
}

/// Key buffers, reused by every request.
#[derive(Debug, Default)]
struct Keys {
    route: String,
    probe: String,
    bucket: String,
    old: String,
}

/// Writes `parts` joined by newlines (which no header value, path or scope holds) into `buf`.
fn key<'b>(buf: &'b mut String, parts: &[&str]) -> &'b str {
    buf.clear();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            buf.push('\n');
        }
        buf.push_str(p);
    }
    buf
}

#[derive(Debug, Default)]
struct Inner {
    /// `scope\nroute` → `scope\nbucket` (the key of its meta).
    routes: HashMap<Box<str>, Box<str>>,
    /// `scope\nbucket` → limit and window.
    meta: HashMap<Box<str>, Meta>,
    /// `scope\nbucket\nmajor` → window.
    buckets: HashMap<Box<str>, Window>,
    /// `scope\nroute\nmajor` → probe expiry.
    probes: HashMap<Box<str>, u64>,
    /// Global key → (rate window, window).
    globals: HashMap<Box<str>, (u64, Window)>,
    keys: Keys,
    /// Standing in for the shared store ([`LocalStore::fall_back`]).
    fallback: Option<Fallback>,
}

/// This node keeps serving on local limits while the shared store is unreachable: a share of
/// each limit by the number of live nodes, starting from the last headers seen.
#[derive(Debug, Clone, Copy)]
struct Fallback {
    /// The live nodes last counted (at least 1).
    nodes: u32,
    /// When the fallback began: the global limit waits one of its windows from there, since
    /// what the others sent in the current one is unknown.
    since: u64,
}

/// How many entries the store holds (for tests and bounds).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Route → bucket mappings.
    pub routes: usize,
    /// Learned buckets.
    pub meta: usize,
    /// Bucket windows (per major parameter).
    pub buckets: usize,
    /// Probes held.
    pub probes: usize,
    /// Global-limit windows.
    pub globals: usize,
}

/// Limits kept in this process.
#[derive(Debug)]
pub struct LocalStore {
    start: Instant,
    inner: Mutex<(u64, Inner)>,
}

impl Default for LocalStore {
    fn default() -> Self {
        LocalStore {
            start: Instant::now(),
            inner: Mutex::default(),
        }
    }
}

impl LocalStore {
    /// The store's lock with its clock read under it, so that time never goes back.
    fn lock(&self) -> (u64, MutexGuard<'_, (u64, Inner)>) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let now = (self.start.elapsed().as_millis() as u64).max(g.0);
        g.0 = now;
        (now, g)
    }

    /// See [`super::Store::acquire`].
    pub fn acquire(&self, ask: &Ask<'_>) -> Decision {
        let (now, mut g) = self.lock();
        g.1.acquire(ask, now)
    }

    /// See [`super::Store::observe`].
    pub fn observe(&self, ask: &Ask<'_>, seen: &Observed) {
        let (now, mut g) = self.lock();
        g.1.observe(ask, seen, now);
    }

    /// Drops windows, buckets and probes that no longer constrain anything.
    pub fn sweep(&self) {
        let (now, mut g) = self.lock();
        g.1.sweep(now);
    }

    /// How many entries the store holds.
    pub fn sizes(&self) -> Sizes {
        self.lock().1.1.sizes()
    }

    /// Stands in for a shared store that `nodes` live nodes used: from now on each limit is
    /// shared by `nodes`, and a bucket whose window has not reset since its last headers
    /// allows this node a share of what those headers said remained.
    pub fn fall_back(&self, nodes: u32) {
        let (now, mut g) = self.lock();
        if g.1.fallback.is_none() {
            for w in g.1.buckets.values_mut() {
                w.spent = 0;
            }
        }
        g.1.fallback = Some(Fallback {
            nodes: nodes.max(1),
            since: now,
        });
    }

    /// Back to the whole limits: the shared store answers again.
    pub fn stop_falling_back(&self) {
        self.lock().1.1.fallback = None;
    }
}

/// `limit` shared by `nodes` (at least 1 each).
fn share(limit: u32, nodes: u32) -> u32 {
    (limit / nodes.max(1)).max(1)
}

impl Inner {
    fn sizes(&self) -> Sizes {
        Sizes {
            routes: self.routes.len(),
            meta: self.meta.len(),
            buckets: self.buckets.len(),
            probes: self.probes.len(),
            globals: self.globals.len(),
        }
    }

    fn acquire(&mut self, ask: &Ask<'_>, now: u64) -> Decision {
        let Inner {
            routes,
            meta,
            buckets,
            probes,
            globals,
            keys,
            fallback,
        } = self;
        let nodes = fallback.map_or(1, |f| f.nodes);
        let mut gwait = 0;
        if let Some((gkey, limit, window)) = ask.global {
            if let Some((_, w)) = globals.get_mut(gkey) {
                gwait = w.wait(now, share(limit, nodes), window, ask.margin_ms);
            }
            if let Some(f) = fallback {
                gwait = gwait.max((f.since + window + ask.margin_ms).saturating_sub(now));
            }
        }
        let probe_key = key(&mut keys.probe, &[ask.scope, ask.route, ask.major]);
        let held = probes.get(probe_key).copied().filter(|&exp| exp > now);
        // a bucket whose meta is gone counts as unknown: its next request probes again
        let learned = routes
            .get(key(&mut keys.route, &[ask.scope, ask.route]))
            .and_then(|mk| Some((mk, *meta.get(mk)?)));
        let (bwait, probe) = match learned {
            None => (held.map_or(0, |exp| exp - now), true),
            Some((mk, m)) => {
                let bk = key(&mut keys.bucket, &[&**mk, ask.major]);
                let wait = buckets.get_mut(bk).map_or(0, |w| {
                    let mut wait = w.wait(now, share(m.limit, nodes), m.window, ask.margin_ms);
                    // on local limits, within the window of the last headers: a share of
                    // what they said remained
                    if fallback.is_some()
                        && w.seen_reset > now
                        && w.spent >= w.seen_remaining / nodes
                    {
                        wait = wait.max(w.seen_reset - now + ask.margin_ms);
                    }
                    wait
                });
                // a probe of this major still in flight (sent before another major's
                // response taught the bucket) is in no window yet: wait until it is counted
                match held {
                    Some(exp) if exp - now > wait => (exp - now, true),
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
        let expiry = now + ask.probe_ttl_ms;
        if let Some((gkey, limit, window)) = ask.global {
            let (w, log) = globals.entry_ref(gkey).or_default();
            *w = window;
            log.reach(window, ask.margin_ms);
            log.push(now, ask.slot, expiry, share(limit, nodes));
        }
        match learned {
            None => {
                probes.insert(probe_key.into(), expiry);
            }
            Some((mk, m)) if m.limit > 0 => {
                let w = buckets.entry_ref(keys.bucket.as_str()).or_default();
                w.reach(m.window, ask.margin_ms);
                w.push(now, ask.slot, expiry, share(m.limit, nodes));
                if fallback.is_some() {
                    w.spent = w.spent.saturating_add(1);
                }
                if let Some(m) = meta.get_mut(mk) {
                    m.until = m.until.max(expiry + m.window * 2 + ask.margin_ms);
                }
            }
            Some(_) => {}
        }
        Decision::Go { probe }
    }

    fn observe(&mut self, ask: &Ask<'_>, seen: &Observed, now: u64) {
        let Inner {
            routes,
            meta,
            buckets,
            probes,
            globals,
            keys,
            fallback,
        } = self;
        let probe_key = key(&mut keys.probe, &[ask.scope, ask.route, ask.major]);
        let was_probe = probes.remove(probe_key).is_some();
        if let Some((gkey, _, _)) = ask.global
            && let Some((_, w)) = globals.get_mut(gkey)
        {
            w.complete(ask.slot, now);
        }
        if let Some(bucket) = &seen.bucket {
            let mk = key(&mut keys.route, &[ask.scope, bucket]);
            let m = meta.entry_ref(mk).or_default();
            m.limit = seen.limit;
            m.window = m.window.max(seen.reset_after_ms);
            let mut block = 0;
            if seen.remaining == 0 && seen.reset_after_ms > 0 {
                block = now + seen.reset_after_ms + ask.margin_ms;
            }
            if let (Some(retry), false) = (seen.retry_after_ms, seen.global) {
                block = block.max(now + retry + ask.margin_ms);
            }
            m.until = m.until.max(now + m.window * 2 + ask.margin_ms).max(block);
            let rk = key(&mut keys.probe, &[ask.scope, ask.route]);
            let before = routes.get(rk);
            if let Some(old) = before.filter(|old| ***old != *mk) {
                // the bucket changed: the request was counted under the one it replaces
                let ok = key(&mut keys.old, &[&**old, ask.major]);
                if let Some(w) = buckets.get_mut(ok) {
                    w.complete(ask.slot, now);
                }
            }
            if before.is_none_or(|old| **old != *mk) {
                routes.insert(rk.into(), mk.into());
            }
            let bk = key(&mut keys.bucket, &[mk, ask.major]);
            let done = buckets
                .get_mut(bk)
                .is_some_and(|w| w.complete(ask.slot, now));
            if fallback.is_none() && seen.reset_after_ms > 0 {
                // what a fallback to local limits would start from
                let w = buckets.entry_ref(bk).or_default();
                w.reach(m.window, ask.margin_ms);
                w.seen_remaining = seen.remaining;
                w.seen_reset = now + seen.reset_after_ms;
            }
            if (!done && was_probe) || block > 0 {
                let w = buckets.entry_ref(bk).or_default();
                w.reach(m.window, ask.margin_ms);
                if !done && was_probe {
                    // the first request of the bucket counts in its window too
                    w.push_answered(now, seen.limit);
                }
                w.blocked_until = w.blocked_until.max(block);
            }
        } else if let (Some(retry), false) = (seen.retry_after_ms, seen.global) {
            // a 429 on a route whose bucket is unknown: hold its next probe back
            probes.insert(probe_key.into(), now + retry + ask.margin_ms);
        }
        if let (Some(retry), true, Some((gkey, _, window))) =
            (seen.retry_after_ms, seen.global, ask.global)
        {
            let (w, log) = globals.entry_ref(gkey).or_default();
            *w = window;
            log.reach(window, ask.margin_ms);
            log.blocked_until = log.blocked_until.max(now + retry + ask.margin_ms);
        }
    }

    fn sweep(&mut self, now: u64) {
        self.buckets.retain(|_, w| !w.idle(now));
        self.probes.retain(|_, exp| *exp > now);
        self.globals.retain(|_, (_, w)| !w.idle(now));
        self.meta.retain(|_, m| m.until >= now);
        let meta = &self.meta;
        self.routes.retain(|_, mk| meta.contains_key(mk));
    }
}

#[cfg(test)]
#[path = "local_tests.rs"]
mod tests;
