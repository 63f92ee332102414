//! The fake's REST rate limits: per-route buckets keyed by the major parameter, the global
//! limit per token or IP, and forced 429s (the responses they make are `rest::ratelimit`'s).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;
use crate::config::Limit;
use crate::ids::now_ms;

/// A fixed-window counter.
#[derive(Debug, Clone, Copy)]
struct Window {
    remaining: u32,
    reset_at: Instant,
}

/// Rate-limit facts for the response headers of a route.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketInfo {
    /// `X-RateLimit-Limit`.
    pub limit: u32,
    /// `X-RateLimit-Remaining`.
    pub remaining: u32,
    /// `X-RateLimit-Reset-After` in seconds.
    pub reset_after: f64,
    /// `X-RateLimit-Bucket`.
    pub bucket: String,
}

/// A 429 decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Limited {
    /// Seconds to wait.
    pub retry_after: f64,
    /// Whether the global limit was hit.
    pub global: bool,
    /// `user`, `global` or `shared`.
    pub scope: &'static str,
}

/// Forced 429s, injected by tests.
#[derive(Debug, Default, Clone, Copy)]
struct Forced {
    local: u32,
    global: u32,
    retry_after_ms: u64,
    /// Scope of the forced per-route 429s: `user` or `shared`.
    local_scope: Option<&'static str>,
}

/// All REST limit state.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: Mutex<HashMap<String, Window>>,
    globals: Mutex<HashMap<String, Window>>,
    forced: Mutex<Forced>,
}

fn take(map: &Mutex<HashMap<String, Window>>, key: &str, limit: Limit) -> (Result<u32, f64>, f64) {
    let mut map = lock(map);
    let now = Instant::now();
    let w = map.entry(key.to_owned()).or_insert(Window {
        remaining: limit.limit,
        reset_at: now + limit.window(),
    });
    if now >= w.reset_at {
        *w = Window {
            remaining: limit.limit,
            reset_at: now + limit.window(),
        };
    }
    let reset_after = w.reset_at.saturating_duration_since(now).as_secs_f64();
    if w.remaining == 0 {
        (Err(reset_after), reset_after)
    } else {
        w.remaining -= 1;
        (Ok(w.remaining), reset_after)
    }
}

/// Rounds to milliseconds, as Discord's headers do.
pub fn secs3(s: f64) -> f64 {
    (s * 1000.0).ceil() / 1000.0
}

impl Limiter {
    /// Forgets every window and forced 429.
    pub fn reset(&self) {
        lock(&self.buckets).clear();
        lock(&self.globals).clear();
        *lock(&self.forced) = Forced::default();
    }

    /// Makes the next `count` requests fail with 429 (global or local); `shared` makes the
    /// per-route 429s carry the `shared` scope (a per-resource limit, which does not count as
    /// an invalid request).
    pub fn force(&self, count: u32, global: bool, shared: bool, retry_after: Duration) {
        let mut f = lock(&self.forced);
        if global {
            f.global = count;
        } else {
            f.local = count;
            f.local_scope = Some(if shared { "shared" } else { "user" });
        }
        f.retry_after_ms = retry_after.as_millis() as u64;
    }

    /// Takes one request from the global window of `key` (a token or an IP).
    pub fn global(&self, key: &str, limit: Limit) -> Result<(), Limited> {
        {
            let mut f = lock(&self.forced);
            if f.global > 0 {
                f.global -= 1;
                return Err(Limited {
                    retry_after: f.retry_after_ms as f64 / 1000.0,
                    global: true,
                    scope: "global",
                });
            }
        }
        match take(&self.globals, key, limit).0 {
            Ok(_) => Ok(()),
            Err(retry) => Err(Limited {
                retry_after: secs3(retry),
                global: true,
                scope: "global",
            }),
        }
    }

    /// Takes one request from a route bucket: `bucket` names the route, `major` its major
    /// parameter. Returns the header facts and, when limited, the 429.
    pub fn route(&self, bucket: &str, major: &str, limit: Limit) -> (BucketInfo, Option<Limited>) {
        let hash = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bucket.as_bytes()));
        let key = format!("{hash}:{major}");
        let forced = {
            let mut f = lock(&self.forced);
            if f.local > 0 {
                f.local -= 1;
                Some((
                    f.retry_after_ms as f64 / 1000.0,
                    f.local_scope.unwrap_or("user"),
                ))
            } else {
                None
            }
        };
        let (remaining, reset_after, limited) = match forced {
            Some((retry, scope)) => (
                0,
                retry,
                Some(Limited {
                    retry_after: retry,
                    global: false,
                    scope,
                }),
            ),
            None => match take(&self.buckets, &key, limit) {
                (Ok(rem), reset_after) => (rem, reset_after, None),
                (Err(retry), reset_after) => (
                    0,
                    reset_after,
                    Some(Limited {
                        retry_after: secs3(retry),
                        global: false,
                        scope: "user",
                    }),
                ),
            },
        };
        let reset_after = limited.as_ref().map_or(reset_after, |l| l.retry_after);
        (
            BucketInfo {
                limit: limit.limit,
                remaining,
                reset_after: secs3(reset_after),
                bucket: hash,
            },
            limited,
        )
    }
}

/// `X-RateLimit-Reset`: epoch seconds when the bucket resets.
pub fn reset_epoch(reset_after: f64) -> f64 {
    secs3(now_ms() as f64 / 1000.0 + reset_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limits_per_major_parameter() {
        let l = Limiter::default();
        let lim = Limit {
            limit: 2,
            window_ms: 10_000,
        };
        assert!(l.route("POST /channels/{c}/messages", "1", lim).1.is_none());
        let (info, limited) = l.route("POST /channels/{c}/messages", "1", lim);
        assert_eq!((info.remaining, limited.is_none()), (0, true));
        let (_, limited) = l.route("POST /channels/{c}/messages", "1", lim);
        let limited = limited.expect("third is limited");
        assert!(!limited.global && limited.retry_after > 9.0);
        assert!(l.route("POST /channels/{c}/messages", "2", lim).1.is_none());
    }

    #[test]
    fn forced_429s_run_out() {
        let l = Limiter::default();
        let lim = Limit {
            limit: 50,
            window_ms: 1000,
        };
        l.force(2, true, false, Duration::from_millis(100));
        assert!(l.global("t", lim).is_err());
        assert!(l.global("t", lim).is_err());
        assert!(l.global("t", lim).is_ok());
    }
}
