//! The local store's rules, and its bounds under bad input: time is given explicitly, so
//! nothing here depends on how fast the machine runs.

use super::*;

fn ask<'a>(route: &'a str, major: &'a str) -> Ask<'a> {
    Ask {
        scope: "bot",
        route,
        major,
        global: Some(("g", 3, 1000)),
        margin_ms: 0,
        probe_ttl_ms: 5000,
        slot: 0,
    }
}

fn learned(bucket: &str, limit: u32, remaining: u32) -> Observed {
    Observed {
        bucket: Some(bucket.into()),
        limit,
        remaining,
        reset_after_ms: 1000,
        ..Observed::default()
    }
}

#[test]
fn probe_then_learned_bucket_then_global() {
    let s = LocalStore::default();
    let a = ask("POST /c", "channels/1");
    assert_eq!(s.acquire(&a), Decision::Go { probe: true });
    assert!(matches!(s.acquire(&a), Decision::Wait { probe: true, .. }));
    s.observe(&a, &learned("h", 2, 1));
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
    // channel 2 has its own bucket window; its first request spends the global limit (3)
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

/// Sends `n` requests of `a` one after the other at `now`, each answered with `seen`;
/// returns how many went.
fn send(inner: &mut Inner, a: &Ask<'_>, seen: &Observed, now: u64, n: u64) -> u64 {
    let mut went = 0;
    for i in 0..n {
        let a = Ask {
            slot: now * 1_000_000 + i,
            ..*a
        };
        if let Decision::Go { .. } = inner.acquire(&a, now) {
            inner.observe(&a, seen, now);
            went += 1;
        }
    }
    went
}

#[test]
fn a_limit_of_millions_keeps_two_windows_of_requests() {
    let mut inner = Inner::default();
    let a = Ask {
        global: Some(("g", 5_000_000, 1000)),
        ..ask("GET /x", "")
    };
    let seen = learned("b", 5_000_000, 4_000_000);
    for ms in 0..10_000 {
        assert_eq!(send(&mut inner, &a, &seen, ms, 20), 20, "at {ms} ms");
    }
    // 20 per ms over the last two windows (2000 ms), not five million
    let (_, g) = inner.globals.get("g").expect("global window");
    assert!(g.len() <= 20 * 2001, "{}", g.len());
    let b = inner.buckets.values().next().expect("bucket window");
    assert!(b.len() <= 20 * 2001, "{}", b.len());
    assert_eq!(inner.sizes().buckets, 1);
}

#[test]
fn a_bucket_header_changing_on_every_response_stays_bounded() {
    let mut inner = Inner::default();
    let a = Ask {
        global: Some(("g", 1_000_000, 1000)),
        ..ask("GET /x", "channels/1")
    };
    let mut max = Sizes::default();
    for i in 0..30_000u64 {
        let a = Ask { slot: i, ..a };
        let now = i;
        assert!(
            matches!(inner.acquire(&a, now), Decision::Go { .. }),
            "at {i}"
        );
        inner.observe(&a, &learned(&format!("b{i}"), 50, 40), now);
        if i % 1000 == 999 {
            inner.sweep(now);
            let s = inner.sizes();
            max.meta = max.meta.max(s.meta);
            max.buckets = max.buckets.max(s.buckets);
        }
    }
    // every bucket name is seen once: a bucket stays while a request sent under it could
    // still constrain (probe ttl + two windows), a window while its answers could
    assert!(max.meta <= 5000 + 2000 + 1000 + 10, "{max:?}");
    assert!(max.buckets <= 2000 + 1000 + 10, "{max:?}");
    assert_eq!(inner.sizes().routes, 1);
    inner.sweep(30_000 + 5000 + 2000 + 10);
    assert_eq!(inner.sizes(), Sizes::default());
}

#[test]
fn a_flood_of_routes_and_tokens_is_evicted_once_idle() {
    let mut inner = Inner::default();
    let mut max = Sizes::default();
    for i in 0..100_000u64 {
        let scope = format!("t{}", i % 5000);
        let route = format!("GET /unknown/r{i}");
        let global = format!("bot:{scope}");
        let a = Ask {
            scope: &scope,
            route: &route,
            major: "",
            global: Some((&global, 50, 1000)),
            margin_ms: 50,
            probe_ttl_ms: 5000,
            slot: i,
        };
        let now = i / 10;
        assert_eq!(inner.acquire(&a, now), Decision::Go { probe: true });
        inner.observe(&a, &learned(&format!("b{}", i % 7), 50, 49), now);
        if i % 500 == 499 {
            inner.sweep(now);
            let s = inner.sizes();
            max.routes = max.routes.max(s.routes);
            max.globals = max.globals.max(s.globals);
        }
    }
    // at 10 requests per ms, a route stays while its bucket can constrain (about 2 windows)
    assert!(max.routes <= 10 * 2100 + 500, "{max:?}");
    assert!(max.globals <= 5000, "{max:?}");
    assert_eq!(inner.sizes().probes, 0);
    inner.sweep(10_000 + 5000 + 2 * 1000 + 100);
    assert_eq!(inner.sizes(), Sizes::default());
}

#[test]
fn an_unanswered_request_holds_its_slot_until_its_expiry() {
    let mut inner = Inner::default();
    let a = Ask {
        global: Some(("g", 1, 1000)),
        ..ask("GET /x", "")
    };
    assert_eq!(inner.acquire(&a, 0), Decision::Go { probe: true });
    // the caller went away: no observe. The global window holds the slot until the expiry
    // (5000) plus a window, then lets the next one go
    assert!(matches!(
        inner.acquire(&Ask { slot: 1, ..a }, 100),
        Decision::Wait {
            global: true,
            ms: 5900,
            ..
        }
    ));
    assert_eq!(
        inner.acquire(&Ask { slot: 1, ..a }, 6000),
        Decision::Go { probe: true }
    );
}

#[test]
fn falling_back_takes_a_share_of_what_remained_then_of_the_limit() {
    let mut s = Inner::default();
    let a = Ask {
        global: None,
        ..ask("POST /c", "channels/1")
    };
    // Shared limits: this node's mirror learns the bucket (limit 10) with 7 left for 1 s.
    assert_eq!(s.acquire(&a, 0), Decision::Go { probe: true });
    s.observe(&a, &learned("h", 10, 7), 10);
    // Three live nodes: a third of the 7 left (2) until the reset at 1010...
    s.fallback = Some(Fallback {
        nodes: 3,
        since: 20,
    });
    let mut sent = 0;
    while let Decision::Go { .. } = s.acquire(
        &Ask {
            slot: sent + 1,
            ..a
        },
        20,
    ) {
        sent += 1;
        assert!(sent < 10, "no end");
    }
    assert_eq!(sent, 2);
    for slot in 1..=sent {
        s.observe(&Ask { slot, ..a }, &learned("h", 10, 5), 30);
    }
    // ...then a third of the limit (3) per window.
    let after = 1011 + 1000;
    let mut next = 0;
    while let Decision::Go { .. } = s.acquire(
        &Ask {
            slot: 100 + next,
            ..a
        },
        after,
    ) {
        next += 1;
        assert!(next < 10, "no end");
    }
    assert_eq!(next, 3);
}

#[test]
fn falling_back_holds_the_global_limit_one_window() {
    let mut s = Inner::default();
    let a = ask("GET /x", "");
    s.fallback = Some(Fallback { nodes: 2, since: 0 });
    assert!(matches!(
        s.acquire(&a, 500),
        Decision::Wait { global: true, .. }
    ));
    assert!(matches!(s.acquire(&a, 1000), Decision::Go { .. }));
}
