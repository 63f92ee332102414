//! Behaviour of the embedded broker as a subscriber sees it.

use std::time::Duration;

use super::*;

fn broker(buffer: usize) -> EmbeddedBroker {
    EmbeddedBroker::new(EmbeddedConfig {
        subscriber_buffer: buffer,
        max_payload: 1024,
    })
}

fn topic(s: &str) -> Topic {
    Topic::new(s).expect("valid topic")
}

fn pattern(s: &str) -> Pattern {
    Pattern::new(s).expect("valid pattern")
}

#[tokio::test]
async fn fan_out_reaches_every_matching_subscriber_only() {
    let b = broker(16);
    let mut all = b.subscribe(&pattern("inbound.>")).await.expect("sub");
    let mut guild = b
        .subscribe(&pattern("inbound.discord.1.*.*"))
        .await
        .expect("sub");
    let mut other = b
        .subscribe(&pattern("inbound.discord.2.*.*"))
        .await
        .expect("sub");
    b.publish(&topic("inbound.discord.1.2.3"), "x".into())
        .await
        .expect("publish");
    assert_eq!(
        all.recv().await.expect("msg").topic.as_str(),
        "inbound.discord.1.2.3"
    );
    assert_eq!(&guild.recv().await.expect("msg").payload[..], b"x");
    assert!(other.try_recv().is_none());
}

#[tokio::test]
async fn order_is_kept_per_subscriber() {
    let b = broker(1000);
    let mut sub = b.subscribe(&pattern("t.>")).await.expect("sub");
    for i in 0..500u32 {
        b.publish(&topic("t.x"), i.to_string().into())
            .await
            .expect("publish");
    }
    for i in 0..500u32 {
        assert_eq!(sub.recv().await.expect("msg").payload, i.to_string());
    }
}

#[tokio::test]
async fn slow_subscriber_never_blocks_and_drops_are_counted() {
    let b = broker(4);
    let _slow = b.subscribe(&pattern("t.*")).await.expect("sub");
    let mut fast = b.subscribe(&pattern("t.*")).await.expect("sub");
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 100 {
            fast.recv().await.expect("msg");
            n += 1;
        }
        n
    });
    for i in 0..100u32 {
        // Never waits on the slow subscriber.
        tokio::time::timeout(
            Duration::from_secs(1),
            b.publish(&topic("t.a"), i.to_string().into()),
        )
        .await
        .expect("publish does not block")
        .expect("publish");
        tokio::task::yield_now().await;
    }
    assert_eq!(reader.await.expect("reader"), 100);
    let stats = b.stats();
    assert_eq!(
        stats.dropped, 96,
        "the slow one kept 4 and lost 96: {stats:?}"
    );
}

#[tokio::test]
async fn queue_group_delivers_each_message_to_exactly_one_member() {
    let b = broker(1000);
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            b.subscribe_group(&pattern("jobs.>"), "workers")
                .await
                .expect("sub"),
        );
    }
    let mut watcher = b.subscribe(&pattern("jobs.>")).await.expect("sub");
    for i in 0..300u32 {
        b.publish(&topic("jobs.a"), i.to_string().into())
            .await
            .expect("publish");
    }
    let mut seen = Vec::new();
    let mut per_member = Vec::new();
    for m in &mut members {
        let mut n = 0;
        while let Some(msg) = m.try_recv() {
            seen.push(msg.payload);
            n += 1;
        }
        per_member.push(n);
    }
    seen.sort();
    let mut want: Vec<bytes::Bytes> = (0..300u32).map(|i| i.to_string().into()).collect();
    want.sort();
    assert_eq!(seen, want, "each message exactly once across the group");
    assert!(
        per_member.iter().all(|&n| n == 100),
        "round robin: {per_member:?}"
    );
    assert_eq!(
        (0..300).filter(|_| watcher.try_recv().is_some()).count(),
        300
    );
}

#[tokio::test]
async fn dropping_a_subscription_unsubscribes() {
    let b = broker(16);
    let sub = b.subscribe(&pattern("a.b")).await.expect("sub");
    assert_eq!(b.stats().subscriptions, 1);
    drop(sub);
    assert_eq!(b.stats().subscriptions, 0);
    let reached = b.hub().publish(&topic("a.b"), "x".into()).expect("publish");
    assert_eq!(reached, 0);
}

#[tokio::test]
async fn oversized_payloads_and_bad_group_names_are_refused() {
    let b = broker(16);
    let err = b
        .publish(&topic("a.b"), vec![0u8; 2000].into())
        .await
        .expect_err("too large");
    assert!(err.to_string().contains("2000 bytes"), "{err}");
    let err = b
        .subscribe_group(&pattern("a.>"), "bad name")
        .await
        .expect_err("invalid");
    assert!(matches!(err, BrokerError::InvalidGroup(_)));
}

#[tokio::test]
async fn ten_thousand_patterns_route_correctly() {
    let b = broker(4);
    let mut subs = Vec::new();
    for g in 0..10_000u32 {
        subs.push(
            b.subscribe(&pattern(&format!("inbound.discord.{g}.*.*")))
                .await
                .expect("sub"),
        );
    }
    b.publish(&topic("inbound.discord.4242.1.2"), "x".into())
        .await
        .expect("publish");
    let hits: Vec<usize> = subs
        .iter_mut()
        .enumerate()
        .filter_map(|(i, s)| s.try_recv().map(|_| i))
        .collect();
    assert_eq!(hits, vec![4242]);
}
