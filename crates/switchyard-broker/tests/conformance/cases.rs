//! The conformance cases. Each takes a [`Fixture`] and runs unchanged against every backend;
//! a backend that answers `Unsupported` ends the case as [`Outcome::Unsupported`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use switchyard_broker::BrokerError;

use crate::harness::{ACK_WAIT_MS, Fixture, MAX_DELIVER, MAX_PAYLOAD, Outcome, collect, topics};
use crate::supported;

mod batch;
mod groups;
mod keyed;
mod window;
pub use batch::batch_deduplication;
pub use groups::durable_groups_listed;
pub use keyed::{durable_keyed_handover, keyed_groups, keyed_handover};
pub use window::durable_window;

const WAIT: Duration = Duration::from_secs(10);
/// How long to watch for messages that must not come.
const QUIET: Duration = Duration::from_millis(300);

/// Every pattern gets exactly the topics it matches with NATS semantics, on every backend
/// (Redis globs cross dots and treat `?`, `[` specially: the client-side re-check must cut
/// those away).
pub async fn exact_patterns(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let patterns = ["a.*", "a.>", "*.b", "a.b", "h[1]", "q?", ">", "*.*.*"];
    let published = [
        "a", "a.b", "a.b.c", "x.b", "ab.b", "a.bc", "h[1]", "h1", "q?", "qx", "a.b.c.d",
    ];
    let mut subs = Vec::new();
    for p in patterns {
        let sub = supported!(broker.subscribe(&f.pattern(p)).await);
        subs.push((f.pattern(p), sub));
    }
    let other = f.connect().await;
    for t in published {
        supported!(other.publish_confirmed(&f.topic(t), Bytes::from(t)).await);
    }
    for (pattern, sub) in &mut subs {
        let want: BTreeSet<String> = published
            .iter()
            .map(|t| f.topic(t).to_string())
            .filter(|t| pattern.matches(t))
            .collect();
        let mut got = collect(sub, want.len(), WAIT).await;
        got.extend(collect(sub, 1, QUIET).await);
        assert_eq!(topics(&got), want, "pattern {pattern}");
        assert_eq!(got.len(), want.len(), "pattern {pattern}: duplicates");
        for m in &got {
            assert_eq!(
                f.topic(std::str::from_utf8(&m.payload).expect("utf-8")),
                m.topic
            );
        }
    }
    Outcome::Passed
}

/// One publisher's messages on one topic arrive in the order sent.
pub async fn order_per_topic(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut sub = supported!(broker.subscribe(&f.pattern(">")).await);
    let publisher = f.connect().await;
    let topic = f.topic("ordered");
    for i in 0..1000u32 {
        supported!(publisher.publish(&topic, Bytes::from(i.to_string())).await);
    }
    let got = collect(&mut sub, 1000, WAIT).await;
    let got: Vec<u32> = got
        .iter()
        .map(|m| {
            std::str::from_utf8(&m.payload)
                .expect("utf-8")
                .parse()
                .expect("number")
        })
        .collect();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
    Outcome::Passed
}

/// `flush` returns once the broker holds everything published before it: a publisher
/// dropped right after its flush has lost nothing (without it, messages still in a client's
/// buffer go with the client).
pub async fn flush(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut sub = supported!(broker.subscribe(&f.pattern("flushed")).await);
    let publisher = f.connect().await;
    let topic = f.topic("flushed");
    for i in 0..2000u32 {
        supported!(publisher.publish(&topic, Bytes::from(i.to_string())).await);
    }
    supported!(publisher.flush().await);
    drop(publisher);
    let got = collect(&mut sub, 2000, WAIT).await;
    assert_eq!(got.len(), 2000, "messages lost after a flush");
    Outcome::Passed
}

/// Every one of N subscribers (on their own connections) gets every message.
pub async fn fan_out(f: &mut Fixture) -> Outcome {
    let mut subs = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let broker = f.connect().await;
        subs.push(supported!(broker.subscribe(&f.pattern("fan.>")).await));
        conns.push(broker);
    }
    let publisher = f.connect().await;
    for i in 0..100u32 {
        supported!(
            publisher
                .publish(&f.topic(&format!("fan.{i}")), Bytes::from(i.to_string()))
                .await
        );
    }
    for sub in &mut subs {
        let got = collect(sub, 100, WAIT).await;
        assert_eq!(got.len(), 100, "each subscriber gets all");
        assert_eq!(topics(&got).len(), 100);
    }
    Outcome::Passed
}

/// In a queue group, each message reaches exactly one member; a plain subscriber beside it
/// still gets everything.
pub async fn queue_groups(f: &mut Fixture) -> Outcome {
    let mut members = Vec::new();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let broker = f.connect().await;
        members.push(supported!(
            broker
                .subscribe_group(&f.pattern("jobs.>"), "workers")
                .await
        ));
        conns.push(broker);
    }
    let watcher_conn = f.connect().await;
    let mut watcher = supported!(watcher_conn.subscribe(&f.pattern("jobs.>")).await);
    let publisher = f.connect().await;
    for i in 0..300u32 {
        supported!(
            publisher
                .publish(&f.topic("jobs.x"), Bytes::from(i.to_string()))
                .await
        );
    }
    assert_eq!(collect(&mut watcher, 300, WAIT).await.len(), 300);
    let mut counts: BTreeMap<Bytes, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while counts.values().sum::<usize>() < 300 && tokio::time::Instant::now() < deadline {
        for m in &mut members {
            for msg in collect(m, 300, Duration::from_millis(50)).await {
                *counts.entry(msg.payload).or_default() += 1;
            }
        }
    }
    tokio::time::sleep(QUIET).await;
    for m in &mut members {
        while let Some(msg) = m.try_recv() {
            *counts.entry(msg.payload).or_default() += 1;
        }
    }
    assert_eq!(counts.len(), 300, "every message reached a member");
    assert!(
        counts.values().all(|&n| n == 1),
        "no message reached two members"
    );
    Outcome::Passed
}

/// Dropping a subscription stops deliveries to it and releases it at the broker; others
/// keep theirs, and subscribing again works.
pub async fn unsubscribe(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let gone = supported!(broker.subscribe(&f.pattern("u.*")).await);
    let mut kept = supported!(broker.subscribe(&f.pattern("u.*")).await);
    drop(gone);
    let publisher = f.connect().await;
    let topic = f.topic("u.1");
    // Where the broker reports receivers, the dropped one disappears from the count.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let published = supported!(publisher.publish_confirmed(&topic, "x".into()).await);
        match published.receivers {
            Some(1) | None => break,
            Some(n) if tokio::time::Instant::now() > deadline => {
                panic!("still {n} receivers after unsubscribing")
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(!collect(&mut kept, 1, WAIT).await.is_empty());
    let mut again = supported!(broker.subscribe(&f.pattern("u.*")).await);
    supported!(publisher.publish_confirmed(&topic, "y".into()).await);
    let got = collect(&mut again, 1, WAIT).await;
    assert_eq!(got.first().map(|m| &m.payload[..]), Some(&b"y"[..]));
    Outcome::Passed
}

/// 1 MiB payloads and arbitrary bytes (NUL, CR LF, invalid UTF-8) arrive byte for byte; a
/// payload over the limit is refused with an error that says it is too large.
pub async fn large_and_binary(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut sub = supported!(broker.subscribe(&f.pattern("bin.*")).await);
    let big: Bytes = (0..(1usize << 20))
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let odd = Bytes::from_static(b"\0\r\n\xff\xfe*3\r\n$1\r\n");
    let empty = Bytes::new();
    for (name, payload) in [("big", &big), ("odd", &odd), ("empty", &empty)] {
        supported!(
            broker
                .publish(&f.topic(&format!("bin.{name}")), payload.clone())
                .await
        );
    }
    let got = collect(&mut sub, 3, WAIT).await;
    assert_eq!(got.len(), 3);
    assert!(got[0].payload == big, "1 MiB payload intact");
    assert_eq!(got[1].payload, odd);
    assert_eq!(got[2].payload, empty);
    let err = broker
        .publish(&f.topic("bin.huge"), vec![0u8; MAX_PAYLOAD + 1].into())
        .await
        .expect_err("over the limit");
    assert!(
        matches!(err, BrokerError::TooLarge { .. }) && err.to_string().contains("too large"),
        "{err}"
    );
    Outcome::Passed
}

/// After the broker restarts, subscriptions come back on their own and publishing works
/// again (plain delivery is at-most-once: what was published during the restart may be lost).
pub async fn restart_recovery(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut sub = supported!(broker.subscribe(&f.pattern("r.*")).await);
    supported!(
        broker
            .publish_confirmed(&f.topic("r.before"), "before".into())
            .await
    );
    assert_eq!(collect(&mut sub, 1, WAIT).await.len(), 1);
    supported!(f.restart());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut i = 0u32;
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no delivery within 20 s of the restart"
        );
        i += 1;
        // Errors while the broker is still down are expected; keep probing.
        let _ = broker
            .publish(&f.topic("r.after"), Bytes::from(i.to_string()))
            .await;
        if let Some(m) = collect(&mut sub, 1, Duration::from_millis(100)).await.pop() {
            assert_eq!(m.topic, f.topic("r.after"));
            break;
        }
    }
    Outcome::Passed
}

/// A durable member that crashes (drops without acking) loses nothing: its unacked
/// messages are redelivered to the next member after the ack wait; acked ones are not,
/// once the acks have reached the broker (`flush`: a JetStream ack is sent without waiting
/// for the server, so one still in the client when the process dies comes again).
pub async fn durable_consumer_crash(f: &mut Fixture) -> Outcome {
    let first = f.connect().await;
    let mut a = supported!(first.subscribe_durable(&f.pattern("d.>"), "crashers").await);
    let publisher = f.connect().await;
    for i in 0..10u32 {
        supported!(
            publisher
                .publish_confirmed(&f.topic("d.x"), Bytes::from(i.to_string()))
                .await
        );
    }
    let mut acked = BTreeSet::new();
    for _ in 0..10 {
        let d = tokio::time::timeout(WAIT, a.recv())
            .await
            .expect("delivery")
            .expect("open");
        assert_eq!(d.attempt, 1);
        let n: u32 = std::str::from_utf8(&d.message.payload)
            .expect("utf-8")
            .parse()
            .expect("n");
        if n.is_multiple_of(2) {
            supported!(d.ack().await);
            acked.insert(n);
        }
        // Odd ones are never acked: the member "crashes" below.
    }
    supported!(first.flush().await);
    drop(a);
    drop(first);
    for i in 10..15u32 {
        supported!(
            publisher
                .publish_confirmed(&f.topic("d.x"), Bytes::from(i.to_string()))
                .await
        );
    }
    let second = f.connect().await;
    let mut b = supported!(
        second
            .subscribe_durable(&f.pattern("d.>"), "crashers")
            .await
    );
    let mut redelivered = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ACK_WAIT_MS * 4) + WAIT;
    while acked.len() < 15 {
        let d = tokio::time::timeout_at(deadline, b.recv())
            .await
            .unwrap_or_else(|_| panic!("lost messages: only {acked:?} acked"))
            .expect("open");
        let n: u32 = std::str::from_utf8(&d.message.payload)
            .expect("utf-8")
            .parse()
            .expect("n");
        if d.attempt > 1 {
            redelivered.insert(n);
        }
        assert!(acked.insert(n), "{n} was acked already and came again");
        supported!(d.ack().await);
    }
    // JetStream may also count a delivery to the crashed member's last pull request.
    assert!(
        redelivered.is_superset(&[1, 3, 5, 7, 9].into_iter().collect()),
        "the unacked messages came again: {redelivered:?}"
    );
    Outcome::Passed
}

/// Messages accepted by a durable backend survive a broker restart, and a member's place in
/// the stream survives it too.
pub async fn durable_broker_restart(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut member = supported!(broker.subscribe_durable(&f.pattern("s.>"), "keepers").await);
    for i in 0..20u32 {
        supported!(
            broker
                .publish_confirmed(&f.topic("s.x"), Bytes::from(i.to_string()))
                .await
        );
    }
    supported!(f.restart());
    let mut got = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while got.len() < 20 {
        let d = tokio::time::timeout_at(deadline, member.recv())
            .await
            .unwrap_or_else(|_| panic!("after the restart only {got:?} arrived"))
            .expect("open");
        let n: u32 = std::str::from_utf8(&d.message.payload)
            .expect("utf-8")
            .parse()
            .expect("n");
        got.insert(n);
        // The ack may fail while the broker is still coming back; then it is redelivered.
        let _ = d.ack().await;
    }
    Outcome::Passed
}

/// A message that is never acknowledged is delivered `max_deliver` times, then no more.
pub async fn durable_dead_letter(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut member = supported!(broker.subscribe_durable(&f.pattern("p.>"), "poison").await);
    supported!(
        broker
            .publish_confirmed(&f.topic("p.x"), "poison".into())
            .await
    );
    let mut attempts = Vec::new();
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(ACK_WAIT_MS * u64::from(MAX_DELIVER + 3))
        + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, member.recv()).await {
            Ok(Some(d)) => {
                attempts.push(d.attempt);
                supported!(d.nack().await);
            }
            _ => break,
        }
        if attempts.len() as u32 == MAX_DELIVER {
            // Nothing more may come.
            let extra =
                tokio::time::timeout(Duration::from_millis(ACK_WAIT_MS * 3), member.recv()).await;
            assert!(extra.is_err(), "delivered beyond max_deliver: {extra:?}");
            break;
        }
    }
    assert_eq!(attempts, (1..=MAX_DELIVER).collect::<Vec<_>>());
    // What landed in the dead-letter stream: this message, once, with its topic, group and
    // delivery count.
    let dead = supported!(broker.dead_letters());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let letters = supported!(dead.read(&Default::default()).await);
        if !letters.is_empty() || tokio::time::Instant::now() > deadline {
            break letters;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert_eq!(letter.topic, f.topic("p.x"));
    assert_eq!(&letter.payload[..], b"poison");
    assert_eq!(letter.group.as_deref(), Some("poison"));
    assert_eq!(letter.deliveries, Some(MAX_DELIVER));
    assert!(
        letter.reason.contains("not acknowledged"),
        "{}",
        letter.reason
    );
    let queues = supported!(dead.queues().await);
    assert_eq!(queues.iter().map(|q| q.count).sum::<u64>(), 1, "{queues:?}");
    Outcome::Passed
}

/// Publishing the same id twice stores it once.
pub async fn deduplication(f: &mut Fixture) -> Outcome {
    let broker = f.connect().await;
    let mut member = supported!(broker.subscribe_durable(&f.pattern("id.>"), "dedup").await);
    let first = supported!(
        broker
            .publish_with_id(&f.topic("id.x"), "one".into(), "evt-1")
            .await
    );
    let again = supported!(
        broker
            .publish_with_id(&f.topic("id.x"), "one".into(), "evt-1")
            .await
    );
    let other = supported!(
        broker
            .publish_with_id(&f.topic("id.x"), "two".into(), "evt-2")
            .await
    );
    assert!(!first.duplicate && again.duplicate && !other.duplicate);
    let mut got = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(2), member.recv()).await {
        got.push(d.message.payload.clone());
        supported!(d.ack().await);
    }
    assert_eq!(got, [Bytes::from("one"), Bytes::from("two")]);
    Outcome::Passed
}
