//! Bad input and faults as a user meets them: an unreachable broker, wrong credentials,
//! messages too large for the server, an outage longer than the publish buffer, and a
//! JetStream server that stops answering in the middle of a batch.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_broker::{Broker, BrokerError, BrokerOptions, IdPublish, RetryPolicy, connect};
use switchyard_testkit::{NatsServer, RedisServer, free_port, require_binary};

fn options() -> BrokerOptions {
    BrokerOptions {
        retry: RetryPolicy {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(100),
            attempts: Some(2),
        },
        ..BrokerOptions::default()
    }
}

async fn connect_err(url: &str) -> BrokerError {
    match connect(url, &options()).await {
        Ok(_) => panic!("connected to {url}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn unreachable_brokers_are_named_with_what_to_check_and_no_password() {
    let port = free_port();
    for url in [
        format!("redis://:hunter2@127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{port}?durable=streams"),
        format!("nats://user:hunter2@127.0.0.1:{port}"),
    ] {
        let err = connect_err(&url).await;
        let text = err.to_string();
        assert!(
            matches!(err, BrokerError::Unreachable { attempts: 2, .. }),
            "{text}"
        );
        assert!(text.contains("cannot reach the broker"), "{text}");
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.contains("check that"), "{text}");
        assert!(!text.contains("hunter2"), "password printed: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_named_as_an_authentication_failure() {
    let redis = RedisServer::start();
    let admin = redis::Client::open(redis.url()).expect("url");
    let mut conn = admin
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("requirepass")
        .arg("s3cret")
        .query_async(&mut conn)
        .await
        .expect("requirepass");
    let url = format!("redis://:wrong-pw@127.0.0.1:{}", redis.port());
    let err = connect_err(&url).await;
    assert!(matches!(err, BrokerError::Auth { .. }), "{err}");
    assert!(err.to_string().contains("authentication failed"), "{err}");
    assert!(!err.to_string().contains("wrong-pw"), "{err}");
    let ok = format!("redis://:s3cret@127.0.0.1:{}", redis.port());
    connect(&ok, &options()).await.expect("right password");

    // NATS with a user and password.
    let port = free_port();
    let mut nats = Killed(
        Command::new(require_binary("nats-server"))
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "--user",
                "bot",
                "--pass",
                "good",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = connect_err(&format!("nats://bot:bad-pw@127.0.0.1:{port}")).await;
    assert!(matches!(err, BrokerError::Auth { .. }), "{err}");
    assert!(!err.to_string().contains("bad-pw"), "{err}");
    connect(&format!("nats://bot:good@127.0.0.1:{port}"), &options())
        .await
        .expect("right password");
    let _ = nats.0.kill();
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_over_the_servers_limit_are_refused_as_too_large() {
    let redis = RedisServer::start();
    let admin = redis::Client::open(redis.url()).expect("url");
    let mut conn = admin
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("proto-max-bulk-len")
        .arg(1 << 20)
        .query_async(&mut conn)
        .await
        .expect("limit");
    let nats = NatsServer::start();
    let big = BrokerOptions {
        max_payload: 64 << 20,
        ..options()
    };
    for (url, limit) in [(redis.url(), 1usize << 20), (nats.url(), 8 << 20)] {
        let broker = connect(&url, &big).await.expect("connect");
        let err = broker
            .publish(
                &"a.b".parse().expect("topic"),
                Bytes::from(vec![7u8; limit + 1]),
            )
            .await
            .expect_err("too large");
        assert!(
            matches!(err, BrokerError::TooLarge { max, .. } if max == limit),
            "{url}: {err}"
        );
        assert!(err.to_string().contains("too large"), "{err}");
        broker
            .publish(&"a.b".parse().expect("topic"), Bytes::from(vec![7u8; 1000]))
            .await
            .expect("small ones still go");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_buffers_the_newest_messages_and_counts_the_rest() {
    let mut redis = RedisServer::start_persistent();
    let url = format!(
        "{}?durable=streams&prefixes=evt&ack_wait_ms=500",
        redis.url()
    );
    let opts = BrokerOptions {
        outage_buffer: 5,
        ..options()
    };
    let broker = switchyard_broker::redis::StreamsBroker::connect(&url, &opts)
        .await
        .expect("connect");
    let mut group = broker
        .subscribe_durable(&"evt.>".parse().expect("pattern"), "readers")
        .await
        .expect("group");
    tokio::task::block_in_place(|| {
        redis.stop();
        // The server may take a moment to exit after its watchdog is stopped.
        while std::net::TcpStream::connect(("127.0.0.1", redis.port())).is_ok() {
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let topic = "evt.1".parse().expect("topic");
    // The first publish finds the connection gone (lost, counted); the rest wait in the buffer.
    for i in 0..20u32 {
        broker
            .publish(&topic, Bytes::from(i.to_string()))
            .await
            .expect("queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while broker.undeliverable() < 15 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(broker.undeliverable(), 15, "20 published, 5 kept");
    tokio::task::block_in_place(|| redis.restart());
    let mut got = Vec::new();
    while let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), group.recv()).await {
        got.push(String::from_utf8_lossy(&d.message.payload).into_owned());
        d.ack().await.expect("ack");
        if got.len() == 5 {
            break;
        }
    }
    assert_eq!(
        got,
        ["15", "16", "17", "18", "19"],
        "the newest five were kept"
    );
    assert_eq!(broker.undeliverable(), 15);
}

/// A JetStream server that stops answering (SIGSTOP) while a batch waits for its acks: the
/// whole batch fails within one ack timeout (5 s), not one timeout per message. Awaited one
/// by one, 40 messages took 200 s; a gateway's batch of 256 held its shard 21 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_jetstream_fails_a_batch_within_one_ack_timeout() {
    let mut nats = NatsServer::start();
    let url = format!("{}?durable=jetstream&prefixes=inbound", nats.url());
    let broker = connect(&url, &options()).await.expect("connect");
    let topic = "inbound.a".parse().expect("topic");
    broker
        .publish_with_id(&topic, Bytes::from_static(b"{}"), "warm")
        .await
        .expect("the stream takes a message");
    let ids: Vec<String> = (0..40).map(|i| format!("silent-{i}")).collect();
    let items: Vec<IdPublish<'_>> = ids
        .iter()
        .map(|id| IdPublish {
            topic: &topic,
            payload: Bytes::from_static(b"{}"),
            id,
        })
        .collect();
    nats.pause();
    let started = Instant::now();
    let answers = broker.publish_batch_with_ids(&items).await;
    let took = started.elapsed();
    nats.resume();
    assert_eq!(answers.len(), 40);
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(e) if e.is_transient())),
        "every message unconfirmed, to be sent again: {answers:?}"
    );
    assert!(
        took < Duration::from_secs(60),
        "the batch's acks were awaited one timeout after another: {took:?}"
    );
}
