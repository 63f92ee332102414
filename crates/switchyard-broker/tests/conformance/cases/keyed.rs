//! Keyed worker groups: one member per key while membership is stable, keys moving when a
//! member leaves, and (durable modes) nothing lost in the move.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::{Broker, DurableSubscription, PartitionKey, Subscription};

use crate::harness::{ACK_WAIT_MS, Fixture, Outcome, collect};
use crate::supported;

const KEY: PartitionKey = PartitionKey::Segment(2);

/// Publishes messages `range` on `{prefix}.{kind}.{i % 17}.{i}`, confirmed.
async fn publish(f: &Fixture, broker: &Arc<dyn Broker>, kind: &str, range: std::ops::Range<u32>) {
    for i in range {
        broker
            .publish_confirmed(
                &f.topic(&format!("{kind}.{}.{i}", i % 17)),
                Bytes::from(i.to_string()),
            )
            .await
            .expect("publish");
    }
}

fn number(payload: &[u8]) -> u32 {
    std::str::from_utf8(payload)
        .expect("utf-8")
        .parse()
        .expect("a number")
}

/// Records which member got each key; panics if a key reached two members.
fn own(owner: &mut BTreeMap<String, usize>, topic: &str, member: usize) {
    let key = topic.split('.').nth(2).unwrap_or("").to_owned();
    let previous = owner.insert(key.clone(), member);
    assert!(
        previous.is_none_or(|p| p == member),
        "key {key} went to members {} and {member}",
        previous.unwrap_or(member)
    );
}

/// Keyed groups: every message with the same key goes to the same member, and every message
/// reaches one member.
pub async fn keyed_groups(f: &mut Fixture) -> Outcome {
    let mut members: Vec<Subscription> = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let broker = f.connect().await;
        members.push(supported!(
            broker
                .subscribe_keyed(&f.pattern("k.>"), "keyed", KEY)
                .await
        ));
        conns.push(broker);
    }
    let publisher = f.connect().await;
    publish(f, &publisher, "k", 0..200).await;
    let mut owner = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for (i, m) in members.iter_mut().enumerate() {
        for msg in collect(m, 200, Duration::from_millis(800)).await {
            own(&mut owner, msg.topic.as_str(), i);
            assert!(
                seen.insert(number(&msg.payload)),
                "delivered twice: {msg:?}"
            );
        }
    }
    assert_eq!(seen.len(), 200, "every message reaches one member");
    let used: BTreeSet<usize> = owner.values().copied().collect();
    assert!(used.len() >= 2, "17 keys all went to one of three members");
    Outcome::Passed
}

/// A member that leaves hands its keys to the others.
pub async fn keyed_handover(f: &mut Fixture) -> Outcome {
    let conn_a = f.connect().await;
    let a = supported!(
        conn_a
            .subscribe_keyed(&f.pattern("h.>"), "handover", KEY)
            .await
    );
    let conn_b = f.connect().await;
    let mut b = supported!(
        conn_b
            .subscribe_keyed(&f.pattern("h.>"), "handover", KEY)
            .await
    );
    drop(a);
    drop(conn_a);
    // The goodbye travels like any message; give it a moment.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let publisher = f.connect().await;
    publish(f, &publisher, "h", 0..100).await;
    let got: BTreeSet<u32> = collect(&mut b, 100, Duration::from_secs(3))
        .await
        .iter()
        .map(|m| number(&m.payload))
        .collect();
    assert_eq!(
        got,
        (0..100).collect(),
        "the last member receives every key"
    );
    Outcome::Passed
}

/// Durable keyed groups: a member that crashes with unacknowledged messages hands its keys
/// over without losing any of them.
pub async fn durable_keyed_handover(f: &mut Fixture) -> Outcome {
    let pattern = f.pattern("kd.>");
    let conn_a = f.connect().await;
    let mut a: DurableSubscription =
        supported!(conn_a.subscribe_keyed_durable(&pattern, "kd", KEY).await);
    let conn_b = f.connect().await;
    let mut b = supported!(conn_b.subscribe_keyed_durable(&pattern, "kd", KEY).await);
    let publisher = f.connect().await;
    publish(f, &publisher, "kd", 0..60).await;

    // Stable membership: each key goes to one member. A never acknowledges (it "crashes").
    let mut owner = BTreeMap::new();
    let mut acked = BTreeSet::new();
    let mut held_by_a = BTreeSet::new();
    while acked.len() + held_by_a.len() < 60 {
        tokio::select! {
            d = a.recv() => {
                let d = d.expect("a open");
                own(&mut owner, d.message.topic.as_str(), 0);
                held_by_a.insert(number(&d.message.payload));
            }
            d = b.recv() => {
                let d = d.expect("b open");
                own(&mut owner, d.message.topic.as_str(), 1);
                acked.insert(number(&d.message.payload));
                d.ack().await.expect("ack");
            }
            () = tokio::time::sleep(Duration::from_secs(10)) => {
                panic!("only {} + {} of 60 delivered", acked.len(), held_by_a.len());
            }
        }
    }
    assert!(
        !held_by_a.is_empty() && !acked.is_empty(),
        "both members own keys"
    );

    drop(a);
    drop(conn_a);
    publish(f, &publisher, "kd", 60..120).await;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ACK_WAIT_MS * 6 + 10_000);
    while acked.len() < 120 {
        let d = tokio::time::timeout_at(deadline, b.recv())
            .await
            .unwrap_or_else(|_| {
                let lost: Vec<u32> = (0..120).filter(|n| !acked.contains(n)).collect();
                panic!("lost in the move: {lost:?}")
            })
            .expect("b open");
        acked.insert(number(&d.message.payload));
        d.ack().await.expect("ack");
    }
    Outcome::Passed
}
