//! The key-value store behaves the same over a file, Redis and NATS KV: compare-and-set on
//! revisions, expiry, deletion, and keys that survive a reopen (file) or restart (servers).

use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::kv::{self, KvError, KvStore};
use switchyard_broker::{BrokerOptions, RetryPolicy};
use switchyard_testkit::{NatsServer, RedisServer};

fn options() -> BrokerOptions {
    BrokerOptions {
        retry: RetryPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(200),
            attempts: Some(3),
        },
        ..BrokerOptions::default()
    }
}

async fn cas_and_expiry(kv: Arc<dyn KvStore>) {
    let name = kv.backend();
    assert_eq!(kv.get("session.0").await.expect("get"), None, "{name}");

    // Create only if absent: the second creator loses.
    let r1 = kv
        .compare_and_set("session.0", None, "a".into(), None)
        .await
        .expect("create");
    let lost = kv
        .compare_and_set("session.0", None, "b".into(), None)
        .await
        .expect_err("already there");
    assert!(matches!(lost, KvError::Conflict { .. }), "{name}: {lost}");

    // Update only from the current revision; a stale one fails and changes nothing.
    let r2 = kv
        .compare_and_set("session.0", Some(r1), "a2".into(), None)
        .await
        .expect("update");
    assert!(r2 > r1, "{name}: revisions grow");
    let stale = kv
        .compare_and_set("session.0", Some(r1), "zz".into(), None)
        .await
        .expect_err("stale");
    assert!(stale.to_string().contains("compare-and-set"), "{stale}");
    let entry = kv.get("session.0").await.expect("get").expect("present");
    assert_eq!(
        (&entry.value[..], entry.revision),
        (&b"a2"[..], r2),
        "{name}"
    );

    // A lease that lapses: gone after its TTL, and then free to take.
    kv.compare_and_set(
        "lease.shard.1",
        None,
        "node-a".into(),
        Some(Duration::from_millis(300)),
    )
    .await
    .expect("lease");
    assert!(
        kv.compare_and_set("lease.shard.1", None, "node-b".into(), None)
            .await
            .is_err(),
        "{name}: held"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        kv.get("lease.shard.1").await.expect("get"),
        None,
        "{name}: expired"
    );
    kv.compare_and_set("lease.shard.1", None, "node-b".into(), None)
        .await
        .expect("free after expiry");

    // Put overwrites; delete removes; a deleted key can be created again, with a new revision.
    let r3 = kv.put("session.0", "p".into(), None).await.expect("put");
    kv.delete("session.0").await.expect("delete");
    assert_eq!(kv.get("session.0").await.expect("get"), None);
    let r4 = kv
        .compare_and_set("session.0", None, "again".into(), None)
        .await
        .expect("recreate");
    assert!(r4 > r3, "{name}: no old revision comes back");

    let bad = kv
        .put("bad key", "x".into(), None)
        .await
        .expect_err("invalid");
    assert!(matches!(bad, KvError::InvalidKey(_)), "{name}");
}

#[tokio::test]
async fn file_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kv.json");
    let store = kv::open("embedded", &options(), &path).await.expect("open");
    cas_and_expiry(store).await;
    // What was written is there after reopening.
    let reopened = kv::open("embedded", &options(), &path)
        .await
        .expect("reopen");
    let entry = reopened.get("session.0").await.expect("get").expect("kept");
    assert_eq!(&entry.value[..], b"again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store() {
    let mut redis = RedisServer::start_persistent();
    let store = kv::open(&redis.url(), &options(), "unused".as_ref())
        .await
        .expect("open");
    cas_and_expiry(Arc::clone(&store)).await;
    tokio::task::block_in_place(|| redis.restart());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match store.get("session.0").await {
            Ok(Some(entry)) => {
                assert_eq!(&entry.value[..], b"again");
                break;
            }
            other => assert!(tokio::time::Instant::now() < deadline, "{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_store() {
    let nats = NatsServer::start();
    let store = kv::open(&nats.url(), &options(), "unused".as_ref())
        .await
        .expect("open");
    cas_and_expiry(store).await;
}
