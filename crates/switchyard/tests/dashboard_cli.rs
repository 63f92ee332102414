//! The Grafana dashboard in deploy/grafana cannot drift from the metrics: every metric name
//! its queries use is served on `/metrics` by a running `switchyard run` after some traffic
//! (events from the fake, an outbound message through the REST limiter): a pool node on a
//! private Redis, and a process on the embedded broker for the embedded broker's own series.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use switchyard_broker::{BrokerOptions, Topic};
use switchyard_sim::{Inject, Sim, SimConfig, Snowflake};
use switchyard_testkit::RedisServer;

mod pool_node;
use pool_node::{Node, until};

/// Every `switchyard_…` name in the `expr` of the dashboard's queries.
fn dashboard_metrics() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/grafana/switchyard.json");
    let text = std::fs::read_to_string(&path).expect("deploy/grafana/switchyard.json");
    let doc: Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    collect_exprs(&doc, &mut exprs);
    assert!(exprs.len() >= 10, "queries: {exprs:?}");
    exprs
        .iter()
        .flat_map(|e| metric_names(e))
        .collect::<BTreeSet<_>>()
}

fn collect_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => collect_exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_exprs(v, out)),
        _ => {}
    }
}

/// The `switchyard_…` identifiers in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("switchyard_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// The metric names of a node's `/metrics`.
async fn served(node: &Node) -> BTreeSet<String> {
    let Ok(response) = reqwest::get(format!("http://{}/metrics", node.admin)).await else {
        return BTreeSet::new();
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split(['{', ' ']).next())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_name_extraction_finds_every_name() {
    assert_eq!(
        metric_names(
            r#"sum(rate(switchyard_a_total{x="1"}[1m])) / max(switchyard_b_seconds_count)"#
        ),
        ["switchyard_a_total", "switchyard_b_seconds_count"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_is_served() {
    let wanted = dashboard_metrics();
    let redis = RedisServer::start();
    let mut config = SimConfig::fast();
    config.shards = 2;
    config.world.guilds = 4;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let url = redis.url();
    let pooled = Node::start(&sim, &url, dir.path(), "pooled", 500);
    let embedded = Node::start_with(
        &sim,
        &url,
        dir.path(),
        "embedded",
        500,
        &[
            ("SWITCHYARD_BROKER_URL", "embedded"),
            ("SWITCHYARD_GATEWAY_POOL", "false"),
            ("SWITCHYARD_BROKER_RESP_PORT", "0"),
        ],
    );
    let nodes = [&pooled, &embedded];
    until("both processes' shards active", 60, &nodes, async || {
        let pooled = pooled.ready_shards().await.is_some_and(|s| s.len() == 2);
        pooled && embedded.ready_shards().await.is_some_and(|s| s.len() == 2)
    })
    .await;

    // Traffic: a message in every guild, and an answer through the pool node's REST limiter.
    let world = sim.world();
    let broker = switchyard_broker::connect(&url, &BrokerOptions::default())
        .await
        .expect("redis");
    for guild in &world.guilds {
        let Some(channel) = guild.channels.iter().find(|c| c.kind == 0) else {
            continue;
        };
        sim.inject(&Inject::Message {
            channel_id: Snowflake(channel.id),
            content: "dashboard traffic".to_owned(),
            author_id: None,
        })
        .expect("inject");
        let topic = format!("outbound.discord.{}.{}.1", guild.id, channel.id);
        broker
            .publish(
                &Topic::new(&topic).expect("topic"),
                Bytes::from_static(br#""an answer""#),
            )
            .await
            .expect("publish");
    }

    // Poll (series appear as the traffic arrives), then name what is missing.
    let deadline = Instant::now() + Duration::from_secs(60);
    let missing = loop {
        let mut all = served(&pooled).await;
        all.extend(served(&embedded).await);
        let missing: BTreeSet<_> = wanted.difference(&all).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics no process serves: {missing:?}\n{}\n-----\n{}",
        pooled.output(),
        embedded.output()
    );
}
