//! A shard whose session Discord invalidates while the broker is down identifies a new
//! session only once the broker has taken the old session's events: until then its queue
//! would hold two sessions, and a shard stopped meanwhile would lose the newer one's events
//! without a gap report (the store names only the older). Against a private Redis Streams
//! broker, stopped and restarted; the events sent during the outage all reach a durable group.
//! And a durable Redis that may lose what it acknowledged (no append-only file, or one not
//! synced before each answer) is named in a warning.

mod cache_common;

use std::process::Command;
use std::time::Duration;

use cache_common::{Run, until};
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{Fault, Inject, Sim, SimConfig, Snowflake};
use switchyard_testkit::RedisServer;

/// What `switchyard publish` to `redis` in Streams mode printed (it succeeded).
fn publish_to(redis: &RedisServer) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["publish", "--log", "warn", "--broker"])
        .arg(format!("{}?durable=streams&prefixes=inbound", redis.url()))
        .args(["inbound.check", "{}"])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard publish runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_durable_redis_that_may_lose_what_it_answered_is_named() {
    let loose = RedisServer::start(); // no append-only file
    let said = publish_to(&loose);
    assert!(
        said.contains("appendonly no") && said.contains("appendfsync always"),
        "{said}"
    );
    let safe = RedisServer::start_persistent(); // appendfsync always
    let said = publish_to(&safe);
    assert!(!said.contains("append-only"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_waits_until_the_broker_took_the_old_ones_events() {
    let mut redis = RedisServer::start_persistent();
    let mut config = SimConfig::fast();
    config.shards = 1;
    config.world.guilds = 2;
    let sim = Sim::start(config).await.expect("sim");
    let url = format!("{}?durable=streams", redis.url());
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = [("SWITCHYARD_BROKER_URL", url.as_str())];
    let run = Run::start(
        &sim,
        dir.path(),
        "outage",
        "outage-cli-test-token",
        &settings,
    );
    until("the shard ready", 60, &[&run], async || {
        run.get_json("/ready").await.0 == 200
    })
    .await;
    let broker = switchyard_broker::connect(&url, &BrokerOptions::default())
        .await
        .expect("redis");
    let mut group = broker
        .subscribe_durable(
            &Pattern::new("inbound.discord.>").expect("pattern"),
            "outage",
        )
        .await
        .expect("a durable group");
    let channel = sim.world().guilds[0]
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .map(|c| c.id)
        .expect("a text channel");

    redis.stop();
    for i in 0..5 {
        sim.inject(&Inject::Message {
            channel_id: Snowflake(channel),
            content: format!("during the outage {i}"),
            author_id: None,
        })
        .expect("inject");
    }
    // the events reach the gateway, which cannot hand them to the broker
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hit = sim
        .fault(&Fault::InvalidSession {
            resumable: false,
            session_id: None,
        })
        .expect("fault");
    assert_eq!(hit, 1);
    until("the IDENTIFY held", 60, &[&run], async || {
        run.output().contains("holding this shard's IDENTIFY")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sim.counters().sessions.len(),
        1,
        "identified anew while the old session's events waited\n{}",
        run.output()
    );

    redis.restart();
    until(
        "a new session once Redis is back",
        60,
        &[&run],
        async || sim.counters().sessions.len() == 2,
    )
    .await;
    let mut missing: Vec<String> = (0..5).map(|i| format!("during the outage {i}")).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !missing.is_empty() {
        let d = tokio::time::timeout_at(deadline, group.recv())
            .await
            .unwrap_or_else(|_| panic!("never delivered: {missing:?}\n{}", run.output()))
            .expect("the group is open");
        let text = String::from_utf8_lossy(&d.message.payload).into_owned();
        missing.retain(|m| !text.contains(m.as_str()));
        let _ = d.ack().await;
    }
}
