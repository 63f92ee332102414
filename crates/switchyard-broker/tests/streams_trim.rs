//! Redis Streams on a private redis-server: a durable group that falls further behind than
//! the stream's length cap loses the oldest of its unread messages to the trim, and the
//! broker says how many (a warning, `switchyard_broker_stream_trimmed_total`, and
//! [`StreamsBroker::trimmed_unprocessed`]), so that what was delivered and what was reported
//! add up to what was published, each counted once.

use std::time::Duration;

use switchyard_broker::redis::StreamsBroker;
use switchyard_broker::{Broker, BrokerOptions, Pattern, Topic};
use switchyard_testkit::RedisServer;

const PUBLISHED: u64 = 1000;
/// Generous: the machine may be loaded.
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_behind_the_length_cap_is_told_what_it_lost() {
    let server = RedisServer::start();
    let url = format!(
        "{}?durable=streams&prefixes=t&max_len=10&ack_wait_ms=30000&name=trim",
        server.url()
    );
    let broker = StreamsBroker::connect(&url, &BrokerOptions::default())
        .await
        .expect("connect");
    let pattern = Pattern::new("t.>").expect("pattern");
    let topic = Topic::new("t.x").expect("topic");

    // The group exists, then its only member goes away while messages keep coming.
    drop(
        broker
            .subscribe_durable(&pattern, "slow")
            .await
            .expect("join"),
    );
    for i in 0..PUBLISHED {
        broker
            .publish_confirmed(&topic, i.to_string().into())
            .await
            .expect("publish");
    }
    assert_eq!(broker.trimmed_unprocessed(), 0, "nobody read yet");

    let mut member = broker
        .subscribe_durable(&pattern, "slow")
        .await
        .expect("join again");
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while got.len() as u64 + broker.trimmed_unprocessed() < PUBLISHED {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(500), member.recv()).await {
            let n: u64 = std::str::from_utf8(&d.message.payload)
                .expect("text")
                .parse()
                .expect("a number");
            got.push(n);
            d.ack().await.expect("ack");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "delivered {} and reported {} of {PUBLISHED}",
            got.len(),
            broker.trimmed_unprocessed()
        );
    }
    let trimmed = broker.trimmed_unprocessed();
    assert!(trimmed > 0, "the cap of 10 must have trimmed some");
    // What came is the newest, in order, right after what was trimmed.
    assert_eq!(got, (trimmed..PUBLISHED).collect::<Vec<_>>());

    // Reported once: more messages, read in time, add nothing to it.
    for i in PUBLISHED..PUBLISHED + 5 {
        broker
            .publish_confirmed(&topic, i.to_string().into())
            .await
            .expect("publish");
        let d = tokio::time::timeout(WAIT, member.recv())
            .await
            .expect("delivered in time")
            .expect("delivery");
        assert_eq!(&d.message.payload[..], i.to_string().as_bytes());
        d.ack().await.expect("ack");
    }
    assert_eq!(broker.trimmed_unprocessed(), trimmed);
}
