//! Bad input on the RESP listener: oversized requests refused at the configured limit before
//! their bytes are read, garbage answered with `-ERR` without disturbing other clients, the
//! password rules, and a slow subscriber that never blocks the publisher.

mod resp_support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use resp_support::{Frame, Listener, RawClient, cmd, parse_frame};
use switchyard_broker::Broker;
use switchyard_broker::embedded::resp::{RespConfig, RespError, RespServer};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};

const SECOND: Duration = Duration::from_secs(5);

fn error_text(client: &mut RawClient) -> String {
    match client.frame(SECOND) {
        Some((Frame::Line(b'-', text), _)) => String::from_utf8_lossy(&text).into_owned(),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn oversized_requests_are_refused_before_buffering() {
    let listener = Listener::start(RespConfig {
        max_request_size: 1024,
        ..RespConfig::default()
    });
    // One argument over the limit: refused on its header; the 2000 bytes are never sent.
    let mut c = RawClient::connect(listener.port());
    c.send(b"*3\r\n$7\r\nPUBLISH\r\n$1\r\na\r\n$2000\r\n");
    assert_eq!(
        error_text(&mut c),
        "ERR Protocol error: invalid bulk length"
    );
    assert!(
        c.is_closed(SECOND),
        "closed after a protocol error, as Redis does"
    );
    // Arguments each within the limit but together over it.
    let mut c = RawClient::connect(listener.port());
    c.send(b"*3\r\n$7\r\nPUBLISH\r\n$600\r\n");
    c.send(&[b'x'; 602]);
    c.send(b"$600\r\n");
    assert_eq!(
        error_text(&mut c),
        "ERR Protocol error: invalid bulk length"
    );
    // A count of arguments that could never fit.
    let mut c = RawClient::connect(listener.port());
    c.send(b"*100000\r\n");
    assert_eq!(
        error_text(&mut c),
        "ERR Protocol error: invalid multibulk length"
    );
    assert!(c.is_closed(SECOND));
    // Within the limit all is well.
    let mut c = RawClient::connect(listener.port());
    c.send(&cmd(&[b"PUBLISH", b"a", &[b'y'; 900]]));
    assert_eq!(c.frame(SECOND).expect("reply").1, b":0\r\n");
}

#[test]
fn garbage_is_answered_and_other_clients_are_unaffected() {
    let listener = Listener::start(RespConfig::default());
    let mut subscriber = RawClient::connect(listener.port());
    subscriber.send(b"SUBSCRIBE news\r\n");
    subscriber.frame(SECOND).expect("subscribed");
    for garbage in [
        &b"*2\r\n$3\r\nfoo\r\n:1\r\n"[..],
        b"*\xff\r\n",
        b"\x01\x02\"unbalanced\r\n",
        b"*1\r\n$-5\r\n",
    ] {
        let mut bad = RawClient::connect(listener.port());
        bad.send(garbage);
        let text = error_text(&mut bad);
        assert!(text.starts_with("ERR Protocol error"), "{text}");
        assert!(bad.is_closed(SECOND));
    }
    let mut publisher = RawClient::connect(listener.port());
    publisher.send(b"PUBLISH news still-here\r\n");
    assert_eq!(publisher.frame(SECOND).expect("count").1, b":1\r\n");
    let (frame, _) = subscriber.frame(SECOND).expect("message");
    assert_eq!(
        frame,
        Frame::Aggregate(
            b'*',
            vec![
                Frame::Bulk(b'$', Some(b"message".to_vec())),
                Frame::Bulk(b'$', Some(b"news".to_vec())),
                Frame::Bulk(b'$', Some(b"still-here".to_vec())),
            ]
        )
    );
}

/// Random bytes never crash the listener, and every reply is well-formed RESP.
#[test]
fn random_bytes_get_well_formed_replies() {
    let listener = Listener::start(RespConfig {
        max_request_size: 4096,
        ..RespConfig::default()
    });
    let port = listener.port();
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let alphabet = b"*$+-:\r\n0123456789-PINGSUBCRIBEpublish \"'\\x\x00\xff".to_vec();
    proptest!(config, |(input in proptest::collection::vec(proptest::sample::select(alphabet.clone()), 0..200))| {
        let mut c = RawClient::connect(port);
        c.send(&input);
        c.send(b"\r\n");
        // Read whatever comes within a short while; it must parse frame by frame.
        let deadline = Instant::now() + Duration::from_millis(50);
        while Instant::now() < deadline {
            if c.frame(Duration::from_millis(10)).is_none() {
                break;
            }
        }
    });
    let mut c = RawClient::connect(port);
    c.send(b"PING\r\n");
    assert_eq!(c.frame(SECOND).expect("still serving").1, b"+PONG\r\n");
    // parse_frame is what `frame` uses; keep it exercised on a known reply too.
    assert!(parse_frame(b"+OK\r\n").expect("valid").is_some());
}

#[test]
fn password_is_required_when_set() {
    let listener = Listener::start(RespConfig {
        password: Some("s3cret".into()),
        ..RespConfig::default()
    });
    let mut c = RawClient::connect(listener.port());
    c.send(b"PING\r\nSUBSCRIBE a\r\nAUTH wrong\r\nAUTH bob s3cret\r\nHELLO 3\r\n");
    assert_eq!(error_text(&mut c), "NOAUTH Authentication required.");
    assert_eq!(error_text(&mut c), "NOAUTH Authentication required.");
    for _ in 0..2 {
        assert_eq!(
            error_text(&mut c),
            "WRONGPASS invalid username-password pair or user is disabled."
        );
    }
    assert!(error_text(&mut c).starts_with("NOAUTH HELLO must be called"));
    // Before AUTH, Redis 7.2's limits on request size apply.
    c.send(b"*11\r\n");
    assert_eq!(
        error_text(&mut c),
        "ERR Protocol error: unauthenticated multibulk length"
    );
    let mut c = RawClient::connect(listener.port());
    c.send(b"AUTH s3cret\r\nPING\r\n");
    assert_eq!(c.frame(SECOND).expect("ok").1, b"+OK\r\n");
    assert_eq!(c.frame(SECOND).expect("pong").1, b"+PONG\r\n");
    let mut c = RawClient::connect(listener.port());
    c.send(b"HELLO 3 AUTH default s3cret\r\nPING\r\nRESET\r\nPING\r\n");
    assert!(matches!(
        c.frame(SECOND),
        Some((Frame::Aggregate(b'%', _), _))
    ));
    assert_eq!(c.frame(SECOND).expect("pong").1, b"+PONG\r\n");
    assert_eq!(c.frame(SECOND).expect("reset").1, b"+RESET\r\n");
    assert_eq!(error_text(&mut c), "NOAUTH Authentication required.");
}

#[tokio::test]
async fn non_loopback_bind_requires_a_password() {
    let broker = EmbeddedBroker::new(EmbeddedConfig::default());
    let any: SocketAddr = "0.0.0.0:0".parse().expect("address");
    let refused = RespServer::bind(
        &broker,
        RespConfig {
            bind: any,
            ..RespConfig::default()
        },
    )
    .await;
    let error = refused.expect_err("must refuse 0.0.0.0 without a password");
    assert!(matches!(error, RespError::PasswordRequired(_)));
    assert!(
        error.to_string().contains("not a loopback address"),
        "{error}"
    );
    let empty = RespServer::bind(
        &broker,
        RespConfig {
            bind: any,
            password: Some(String::new()),
            ..RespConfig::default()
        },
    )
    .await;
    assert!(matches!(empty, Err(RespError::EmptyPassword)));
    let server = RespServer::bind(
        &broker,
        RespConfig {
            bind: any,
            password: Some("long-random-secret".into()),
            ..RespConfig::default()
        },
    )
    .await
    .expect("with a password, any address may be bound");
    assert_ne!(server.local_addr().port(), 0);
    server.spawn().shutdown().await;
}

#[test]
fn a_slow_subscriber_never_blocks_the_publisher() {
    let listener = Listener::start(RespConfig {
        client_buffer: 16,
        ..RespConfig::default()
    });
    let mut slow = RawClient::connect(listener.port());
    slow.send(b"SUBSCRIBE inbound.flood\r\n");
    slow.frame(SECOND).expect("subscribed");
    // It never reads again. Publishing 20,000 messages of 4 KiB (80 MiB, far beyond any
    // socket buffer) must finish promptly, with the excess dropped and counted.
    let topic = "inbound.flood".parse().expect("topic");
    let payload = bytes::Bytes::from(vec![b'z'; 4096]);
    let started = Instant::now();
    listener.runtime.block_on(async {
        for _ in 0..20_000 {
            listener
                .broker
                .publish(&topic, payload.clone())
                .await
                .expect("publish");
        }
    });
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "publisher was blocked"
    );
    assert!(listener.broker.stats().dropped > 0, "drops are counted");
    // Other clients are still served.
    let mut other = RawClient::connect(listener.port());
    other.send(b"PUBLISH inbound.flood x\r\n");
    assert_eq!(other.frame(SECOND).expect("count").1, b":1\r\n");
}
