//! `switchyard dlq` as an operator runs it, on a private redis-server (Streams) and
//! nats-server (JetStream): a message a consumer keeps failing lands in the dead letters,
//! `list` and `show` show it, `replay` delivers it to the group again, `purge` empties them;
//! the embedded broker, in-process or behind its RESP port, says it keeps none.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use switchyard_broker::{BrokerOptions, DeadLetterFilter, Pattern, Topic};
use switchyard_testkit::{NatsServer, RedisServer, free_port};

const BIN: &str = env!("CARGO_BIN_EXE_switchyard");
/// Generous: the machine may be loaded.
const WAIT: Duration = Duration::from_secs(60);
const ENVELOPE_ID: &str = "0123456789abcdef0123456789abcdef";

fn dlq(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("dlq")
        .args(args)
        .args(["--broker", url])
        .env_remove("SWITCHYARD_CONFIG")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run switchyard dlq")
}

fn ok(url: &str, args: &[&str]) -> String {
    let out = dlq(url, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "switchyard dlq {args:?} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn envelope() -> String {
    format!(
        r#"{{"v":1,"id":"{ENVELOPE_ID}","s":"discord/bot/0","t":"MESSAGE_CREATE","seq":7,"shard":0,"bot":"bot","received_ms":1,"d":{{"content":"boom"}}}}"#
    )
}

/// Publishes an envelope that the group `workers` fails (nacks) until it is dead-lettered,
/// then checks the whole `dlq` cycle against `url`.
async fn cycle(url: &str) {
    let broker = switchyard_broker::connect(url, &BrokerOptions::default())
        .await
        .expect("connect");
    let pattern = Pattern::new("inbound.>").expect("pattern");
    let topic = Topic::new("inbound.discord.1.2.3").expect("topic");
    let mut member = broker
        .subscribe_durable(&pattern, "workers")
        .await
        .expect("join the group");
    broker
        .publish_confirmed(&topic, envelope().into())
        .await
        .expect("publish");
    let dead = broker
        .dead_letters()
        .expect("durable mode has dead letters");
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut failures = 0;
    loop {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), member.recv()).await {
            failures += 1;
            d.nack().await.expect("nack");
        }
        if !dead
            .read(&DeadLetterFilter::default())
            .await
            .expect("read")
            .is_empty()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not dead-lettered after {failures} failures"
        );
    }
    assert_eq!(failures, 2, "max_deliver=2: two deliveries, then the DLQ");

    let list = ok(url, &["list"]);
    assert!(
        list.contains("1 letter(s)") && list.contains("workers: 1"),
        "{list}"
    );

    let show = ok(url, &["show"]);
    assert!(
        show.contains("on inbound.discord.1.2.3")
            && show.contains("group workers, 2 deliveries")
            && show.contains("not acknowledged after 2 deliveries")
            && show.contains(&format!("envelope {ENVELOPE_ID} (MESSAGE_CREATE)"))
            && show.contains("boom"),
        "{show}"
    );
    let json = ok(url, &["show", "--json"]);
    let letter: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON line");
    assert_eq!(letter["topic"], "inbound.discord.1.2.3");
    assert_eq!(letter["group"], "workers");
    assert_eq!(letter["deliveries"], 2);
    assert_eq!(letter["envelope_id"], ENVELOPE_ID);
    assert_eq!(letter["payload"]["d"]["content"], "boom");
    let id = letter["id"].as_str().expect("id").to_owned();
    let none = ok(url, &["show", "--id", "no-such-id"]);
    assert!(none.is_empty(), "{none}");

    // Replayed: the group gets it again as a new message, and the DLQ is empty.
    let replay = ok(url, &["replay", "--id", &id]);
    assert!(replay.contains("replayed 1 dead letter(s)"), "{replay}");
    let again = tokio::time::timeout(WAIT, member.recv())
        .await
        .expect("replayed within the deadline")
        .expect("delivery");
    assert_eq!(again.message.topic, topic);
    assert_eq!(again.message.payload, envelope().as_bytes());
    assert_eq!(again.attempt, 1);
    let list = ok(url, &["list"]);
    assert!(list.contains("no dead letters"), "{list}");

    // Dead again, then purged: refused without --yes, done with it.
    again.nack().await.expect("nack");
    let deadline = tokio::time::Instant::now() + WAIT;
    while dead
        .read(&DeadLetterFilter::default())
        .await
        .expect("read")
        .is_empty()
    {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_millis(200), member.recv()).await {
            d.nack().await.expect("nack");
        }
        assert!(tokio::time::Instant::now() < deadline, "not dead again");
    }
    let refused = dlq(url, &["purge"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("would delete 1 dead letter(s)") && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(
        dead.read(&DeadLetterFilter::default())
            .await
            .expect("read")
            .len(),
        1
    );
    let purged = ok(url, &["purge", "--yes"]);
    assert!(purged.contains("purged 1 dead letter(s)"), "{purged}");
    assert!(
        dead.read(&DeadLetterFilter::default())
            .await
            .expect("read")
            .is_empty()
    );
}

const DURABLE: &str = "prefixes=inbound&ack_wait_ms=300&max_deliver=2&name=dlqtest";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_dead_letters_cycle() {
    let server = RedisServer::start();
    cycle(&format!("{}?durable=streams&{DURABLE}", server.url())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jetstream_dead_letters_cycle() {
    let server = NatsServer::start();
    cycle(&format!("{}?durable=jetstream&{DURABLE}", server.url())).await;
}

#[test]
fn brokers_without_dead_letters_say_what_they_support() {
    let out = Command::new(BIN)
        .args(["dlq", "list"])
        .env_remove("SWITCHYARD_CONFIG")
        .env("SWITCHYARD_BROKER_URL", "embedded")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("embedded broker keeps no dead letters") && err.contains("durable mode"),
        "{err}"
    );

    // A running `switchyard broker`'s RESP port looks like Redis, but keeps no streams.
    let (resp, admin) = (free_port(), free_port());
    let mut broker = Command::new(BIN)
        .args(["broker", "--resp-port", &resp.to_string()])
        .args(["--admin", &format!("127.0.0.1:{admin}")])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start switchyard broker");
    let mut line = String::new();
    let stdout = broker.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("startup line");
    let out = dlq(&format!("redis://127.0.0.1:{resp}"), &["list"]);
    let _ = broker.kill();
    let _ = broker.wait();
    assert!(line.contains(&resp.to_string()), "{line}");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not speak Redis Streams") && err.contains("keeps no dead letters"),
        "{err}"
    );
}
