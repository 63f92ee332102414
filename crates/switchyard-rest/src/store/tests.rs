//! The two limit stores (in-process and Redis) follow the same rules; these scenarios run
//! against both, the Redis one on a private server.

use std::sync::Arc;

use switchyard_testkit::RedisServer;

use super::local::LocalStore;
use super::redis::RedisStore;
use super::{Ask, Decision, Observed, Store};

fn ask(major: &str, slot: u64) -> Ask<'_> {
    Ask {
        scope: "bot",
        route: "POST /channels/{id}/messages",
        major,
        global: None,
        margin_ms: 0,
        probe_ttl_ms: 5000,
        slot,
    }
}

fn learned(remaining: u32) -> Observed {
    Observed {
        bucket: Some("h".into()),
        limit: 2,
        remaining,
        reset_after_ms: 1000,
        ..Observed::default()
    }
}

/// Two channels probe the unknown route at once; the first answer teaches the bucket. The
/// second channel's probe is still in flight and in no log, so that channel must wait for it
/// rather than spend the whole bucket beside it (which earned a 429 from Discord).
async fn probe_in_flight_counts(store: Store) {
    let (a1, b1) = (ask("channels/1", 1), ask("channels/2", 2));
    assert_eq!(
        store.acquire(&a1).await.expect("acquire"),
        Decision::Go { probe: true }
    );
    assert_eq!(
        store.acquire(&b1).await.expect("acquire"),
        Decision::Go { probe: true }
    );
    store.observe(&a1, &learned(1)).await.expect("observe");
    let b2 = ask("channels/2", 3);
    match store.acquire(&b2).await.expect("acquire") {
        Decision::Wait { probe: true, .. } => {}
        d => panic!("channel 2 went beside its own probe: {d:?}"),
    }
    store.observe(&b1, &learned(1)).await.expect("observe");
    // the probe is counted now: one more fits in the bucket of 2, then it is full
    assert_eq!(
        store.acquire(&b2).await.expect("acquire"),
        Decision::Go { probe: false }
    );
    let b3 = ask("channels/2", 4);
    assert!(matches!(
        store.acquire(&b3).await.expect("acquire"),
        Decision::Wait { probe: false, .. }
    ));
}

#[tokio::test]
async fn local_store_counts_a_probe_in_flight() {
    probe_in_flight_counts(Store::Local(Arc::new(LocalStore::default()))).await;
}

#[tokio::test]
async fn redis_store_counts_a_probe_in_flight() {
    let redis = RedisServer::start();
    let store = RedisStore::connect(&redis.url(), "t:")
        .await
        .expect("redis store");
    probe_in_flight_counts(Store::Redis(super::shared::SharedStore::new(store))).await;
}

/// Keys under the store's prefix that Redis still holds (expired ones are not listed).
async fn keys(url: &str, pattern: &str) -> Vec<String> {
    let client = ::redis::Client::open(url).expect("redis client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    ::redis::cmd("KEYS")
        .arg(pattern)
        .query_async(&mut conn)
        .await
        .expect("KEYS")
}

/// Bad input against the Redis store: a limit of millions, and a bucket header that changes
/// on every response. The logs keep only what can still constrain, and every key expires once
/// idle. Only lower bounds on time are used (sleeping longer than a TTL), which load cannot
/// break.
#[tokio::test]
async fn redis_store_keeps_bounded_state_under_bad_input() {
    let redis = RedisServer::start();
    let url = redis.url();
    let store = RedisStore::connect(&url, "bad:")
        .await
        .expect("redis store");
    let base = Ask {
        probe_ttl_ms: 1000,
        global: Some(("g", 5_000_000, 50)),
        ..ask("channels/1", 0)
    };
    let seen = Observed {
        bucket: Some("big".into()),
        limit: 5_000_000,
        remaining: 4_000_000,
        reset_after_ms: 50,
        ..Observed::default()
    };
    for slot in 0..200 {
        let a = Ask { slot, ..base };
        assert!(matches!(
            store.acquire(&a).await.expect("acquire"),
            Decision::Go { .. }
        ));
        store.observe(&a, &seen).await.expect("observe");
    }
    // two windows (100 ms) and more later, one request: the logs hold it alone (or nothing,
    // when a slow machine let them expire)
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let a = Ask { slot: 1000, ..base };
    assert!(matches!(
        store.acquire(&a).await.expect("acquire"),
        Decision::Go { .. }
    ));
    let client = ::redis::Client::open(url.as_str()).expect("redis client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let (g, b): (u64, u64) = ::redis::pipe()
        .zcard("bad:g:g")
        .zcard("bad:b:bot:big:channels/1")
        .query_async(&mut conn)
        .await
        .expect("ZCARD");
    assert!(g <= 1 && b <= 1, "{g} {b}");
    store.observe(&a, &seen).await.expect("observe");

    for slot in 0..200u64 {
        let a = Ask {
            slot: 2000 + slot,
            ..base
        };
        let seen = Observed {
            bucket: Some(format!("b{slot}")),
            ..seen.clone()
        };
        assert!(matches!(
            store.acquire(&a).await.expect("acquire"),
            Decision::Go { .. }
        ));
        store.observe(&a, &seen).await.expect("observe");
    }
    assert!(!keys(&url, "bad:m:*").await.is_empty());
    // every TTL is at most two windows, the margin and the probe ttl (1.1 s): under 2 s
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    assert_eq!(keys(&url, "bad:*").await, Vec::<String>::new());
}
