//! What the dashboard's panels say of a `switchyard run`, read from its live stream as the
//! page reads it, after something really happened:
//! - on the embedded broker: a service that identified with a worker group shows in the
//!   services and as the group's member; an answer published on an outbound topic becomes a
//!   REST call whose bucket (route and channel) shows among the busiest, with no 429 earned
//!   and nothing left queued; the broker says it keeps no dead letters and no durable groups;
//! - on Redis Streams: a durable group's member that fails a message until it is
//!   dead-lettered shows as the durable group's member, and the dead letter is counted for
//!   its group; the broker's own list of groups has the group, its one consumer, and the
//!   service that announced it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerOptions, Pattern, Topic};
use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::RedisServer;

mod dashboard_run;
use dashboard_run::snapshot_until;

/// Publishes IDENTIFY for `pybot`/`py-1` in `group` (of `kind`) every two seconds, as a
/// service's heartbeat does, until dropped.
fn identify_forever(
    broker: Arc<dyn Broker>,
    group: &str,
    kind: &str,
) -> tokio::task::JoinHandle<()> {
    let hello = json!({"s": "pybot/py-1", "t": "IDENTIFY", "d": {
        "opcode": 0, "name": "pybot", "instance": "py-1", "version": "0.3",
        "envelope_version": 1,
        "groups": [{"name": group, "pattern": "inbound.dashtest.>", "kind": kind}],
    }});
    let topic = Topic::new("control.gateway").expect("topic");
    tokio::spawn(async move {
        loop {
            let _ = broker.publish(&topic, Bytes::from(hello.to_string())).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    })
}

/// The group named `name` in `groups`, if it lists `member`.
fn group_with<'a>(groups: &'a Value, name: &str, member: &str) -> Option<&'a Value> {
    groups.as_array()?.iter().find(|g| {
        g["name"] == name
            && g["members"]
                .as_array()
                .is_some_and(|m| m.iter().any(|x| x == member))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_groups_and_rest_buckets_show_what_happened() {
    let mut config = SimConfig::fast();
    config.world.guilds = 2;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dashboard_run::start(&sim, dir.path(), &[]).await;
    let broker =
        switchyard_broker::connect(&format!("redis://{}", run.resp), &BrokerOptions::default())
            .await
            .expect("the embedded broker's RESP port");
    snapshot_until(&run.admin, "the shard ready", |s| {
        s["bots"][0]["ready"] == 1
    })
    .await;

    let heartbeat = identify_forever(broker.clone(), "workers", "queue");
    let world = sim.world();
    let (guild, channel) = world
        .guilds
        .iter()
        .find_map(|g| {
            g.channels
                .iter()
                .find(|c| c.kind == 0)
                .map(|c| (g.id, c.id))
        })
        .expect("a text channel");
    broker
        .publish(
            &Topic::new(&format!("outbound.discord.{guild}.{channel}.1")).expect("topic"),
            Bytes::from_static(br#""the dashboard counts this""#),
        )
        .await
        .expect("publish the answer");

    let major = format!("channels/{channel}");
    let snapshot = snapshot_until(
        &run.admin,
        "the service, its group and the REST bucket",
        |s| {
            let bucket = s["rest"]["busiest_buckets"].as_array().is_some_and(|b| {
                b.iter()
                    .any(|b| b["major"] == major.as_str() && b["sent"] == 1)
            });
            bucket && group_with(&s["groups"], "workers", "pybot/py-1").is_some()
        },
    )
    .await;
    heartbeat.abort();

    let service = &snapshot["services"][0];
    assert_eq!(
        (&service["name"], &service["instance"]),
        (&json!("pybot"), &json!("py-1")),
        "{snapshot:#}"
    );
    // the embedded broker keeps no durable groups, and says so
    assert_eq!(snapshot["broker"]["groups_on_broker"]["kept"], false);
    let group = group_with(&snapshot["groups"], "workers", "pybot/py-1").expect("the group");
    assert_eq!(group["kind"], "queue");
    assert_eq!(group["pattern"], "inbound.dashtest.>");
    assert_eq!(group["durable"], false);
    assert_eq!(
        snapshot["broker"]["durable_groups"],
        json!([]),
        "a queue group is not durable"
    );

    let rest = &snapshot["rest"];
    assert!(
        rest["requests"].as_f64().is_some_and(|n| n >= 1.0),
        "{rest:#}"
    );
    assert_eq!(rest["upstream_429"], 0.0, "{rest:#}");
    assert_eq!(rest["queued"], 0, "{rest:#}");
    let bucket = rest["busiest_buckets"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["major"] == major.as_str()))
        .expect("the bucket");
    assert_eq!(bucket["route"], "POST /channels/{id}/messages", "{bucket}");
    assert_eq!(bucket["waiting"], 0);

    let dead = &snapshot["broker"]["dead_letters"];
    assert_eq!(dead["kept"], false, "{dead}");
    assert!(
        dead["why"]
            .as_str()
            .is_some_and(|w| w.contains("durable mode")),
        "{dead}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_groups_and_dead_letters_come_from_the_broker() {
    let redis = RedisServer::start();
    let url = format!(
        "{}?durable=streams&ack_wait_ms=300&max_deliver=2&name=dashtest",
        redis.url()
    );
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = dashboard_run::start(&sim, dir.path(), &[("SWITCHYARD_BROKER_URL", &url)]).await;
    let broker = switchyard_broker::connect(&url, &BrokerOptions::default())
        .await
        .expect("redis");

    // A member of the durable group `workers` that fails every message it gets.
    let mut member = broker
        .subscribe_durable(
            &Pattern::new("inbound.dashtest.>").expect("pattern"),
            "workers",
        )
        .await
        .expect("join the group");
    let failing = tokio::spawn(async move {
        while let Some(delivery) = member.recv().await {
            let _ = delivery.nack().await;
        }
    });
    let heartbeat = identify_forever(broker.clone(), "workers", "durable");
    broker
        .publish_confirmed(
            &Topic::new("inbound.dashtest.1").expect("topic"),
            Bytes::from_static(b"{}"),
        )
        .await
        .expect("publish");

    let snapshot = snapshot_until(&run.admin, "the dead letter and the durable group", |s| {
        let dead = &s["broker"]["dead_letters"];
        dead["count"] == 1
            && dead["groups"]["workers"] == 1
            && group_with(&s["broker"]["durable_groups"], "workers", "pybot/py-1").is_some()
            && s["broker"]["groups_on_broker"]["groups"]
                .as_array()
                .is_some_and(|g| g.iter().any(|g| g["name"] == "workers"))
    })
    .await;
    heartbeat.abort();
    failing.abort();

    assert_eq!(snapshot["broker"]["backend"], "redis", "{snapshot:#}");
    assert_eq!(snapshot["broker"]["dead_letters"]["kept"], true);
    // the broker's own list: the group, the member that reads it, who announced it
    let on_broker = &snapshot["broker"]["groups_on_broker"];
    let read = on_broker["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "workers"))
        .unwrap_or_else(|| panic!("workers on the broker: {on_broker:#}"));
    assert_eq!(read["stream"], "dashtest:stream:inbound", "{read:#}");
    assert_eq!(
        read["members"].as_array().map(Vec::len),
        Some(1),
        "{read:#}"
    );
    assert_eq!(read["announced"], json!(["pybot/py-1"]), "{read:#}");
    let group = group_with(&snapshot["groups"], "workers", "pybot/py-1").expect("the group");
    assert_eq!(
        (&group["kind"], &group["durable"]),
        (&json!("durable"), &json!(true))
    );
}
