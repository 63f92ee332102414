//! The two limit stores (in-process and Redis) follow the same rules; these scenarios run
//! against both, the Redis one on a private server.

use std::sync::Arc;

use switchyard_testkit::RedisServer;

use super::local::LocalStore;
use super::redis::RedisStore;
use super::{Ask, Decision, Observed, Store};

fn ask<'a>(major: &'a str, slot: &'a str) -> Ask<'a> {
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
    let (a1, b1) = (ask("channels/1", "a1"), ask("channels/2", "b1"));
    assert_eq!(
        store.acquire(&a1).await.expect("acquire"),
        Decision::Go { probe: true }
    );
    assert_eq!(
        store.acquire(&b1).await.expect("acquire"),
        Decision::Go { probe: true }
    );
    store.observe(&a1, &learned(1)).await.expect("observe");
    let b2 = ask("channels/2", "b2");
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
    let b3 = ask("channels/2", "b3");
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
    probe_in_flight_counts(Store::Redis(store)).await;
}
