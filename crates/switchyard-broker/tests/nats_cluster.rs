//! JetStream on a cluster of three nats-servers joined by routes, streams and the key-value
//! bucket replicated on all three (`replicas=3`), the broker URL naming every server: a
//! durable group keeps receiving while each server in turn is killed with SIGKILL and
//! started again, and nothing the broker confirmed is lost; the key-value store keeps its
//! entries through the same.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_broker::{Broker, BrokerOptions, Pattern, RetryPolicy, Topic, connect, kv};
use switchyard_testkit::{NATS_CLUSTER_SIZE, NatsCluster};

/// Generous: a loaded machine elects leaders slowly.
const WAIT: Duration = Duration::from_secs(120);

fn options() -> BrokerOptions {
    BrokerOptions {
        retry: RetryPolicy {
            attempts: Some(20),
            ..RetryPolicy::default()
        },
        ..BrokerOptions::default()
    }
}

/// Publishes message `n` until the broker confirms it (a publish during a failover may
/// fail; the id makes a retry of one that was stored anyway a duplicate the stream drops).
async fn publish_until_confirmed(broker: &Arc<dyn Broker>, n: u64) -> u32 {
    let topic = Topic::new(&format!("inbound.cluster.{n}")).expect("topic");
    let deadline = Instant::now() + WAIT;
    let mut failures = 0;
    loop {
        let payload = Bytes::from(n.to_string());
        match broker
            .publish_with_id(&topic, payload, &format!("m{n}"))
            .await
        {
            Ok(_) => return failures,
            Err(e) => {
                failures += 1;
                assert!(
                    Instant::now() < deadline,
                    "message {n} not confirmed within {WAIT:?}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_group_and_the_kv_store_survive_each_server_killed_in_turn() {
    let mut cluster = NatsCluster::start();
    let url = format!(
        "{}?durable=jetstream&replicas=3&ack_wait_ms=2000",
        cluster.url()
    );
    let publisher = connect(&url, &options()).await.expect("publisher");
    let member = connect(&url, &options()).await.expect("member");
    let store = kv::open(&url, &options(), Path::new("unused"))
        .await
        .expect("kv");
    store
        .put("before", Bytes::from_static(b"kept"), None)
        .await
        .expect("put");
    let mut group = member
        .subscribe_durable(&Pattern::new("inbound.>").expect("pattern"), "workers")
        .await
        .expect("join the group");
    let received: Arc<Mutex<BTreeMap<u64, u32>>> = Arc::default();
    let reader = {
        let received = received.clone();
        tokio::spawn(async move {
            while let Some(delivery) = group.recv().await {
                if let Some(n) = std::str::from_utf8(&delivery.message.payload)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    *received
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .entry(n)
                        .or_default() += 1;
                }
                // an ack lost in a failover only brings the message again
                let _ = delivery.ack().await;
            }
        })
    };

    let mut confirmed = BTreeSet::new();
    let mut failures = 0;
    let mut n = 0;
    for victim in 0..NATS_CLUSTER_SIZE {
        for _ in 0..100 {
            n += 1;
            failures += publish_until_confirmed(&publisher, n).await;
            confirmed.insert(n);
        }
        cluster.server(victim).kill();
        // published while the server is down
        for _ in 0..100 {
            n += 1;
            failures += publish_until_confirmed(&publisher, n).await;
            confirmed.insert(n);
        }
        cluster.server(victim).restart();
        cluster.wait_for_leader();
    }

    let deadline = Instant::now() + WAIT;
    let missing = loop {
        let got = received
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let missing: Vec<u64> = confirmed
            .iter()
            .filter(|n| !got.contains_key(n))
            .copied()
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        missing.is_empty(),
        "{} of {} confirmed messages never reached the group (first: {:?}); publish failures retried: {failures}",
        missing.len(),
        confirmed.len(),
        &missing[..missing.len().min(10)]
    );
    let again = received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .values()
        .filter(|&&c| c > 1)
        .count();
    eprintln!(
        "{} confirmed, all received ({again} more than once); {failures} publishes retried during failovers",
        confirmed.len()
    );

    // Reads and writes need the bucket's stream leader, which the last restart may still be
    // electing (timeouts, "no stream found" meanwhile, slow on a loaded machine): the store
    // must answer again once it has one, and then with what was written.
    let entry = once_led("get", || store.get("before")).await.expect("kept");
    assert_eq!(&entry.value[..], b"kept");
    once_led("put", || {
        store.put("after", Bytes::from_static(b"new"), None)
    })
    .await;
    let entry = once_led("get", || store.get("after"))
        .await
        .expect("written");
    assert_eq!(&entry.value[..], b"new");
    reader.abort();
}

/// `op`'s answer, retried while it fails, for up to 60 s.
async fn once_led<T, F>(what: &str, mut op: impl FnMut() -> F) -> T
where
    F: std::future::Future<Output = Result<T, kv::KvError>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut refused = 0;
    loop {
        match op().await {
            Ok(answer) => return answer,
            Err(e) if Instant::now() < deadline => {
                refused += 1;
                eprintln!("a {what} after the failovers failed ({refused}): {e}");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("no {what} answered within 60 s of the failovers: {e}"),
        }
    }
}
