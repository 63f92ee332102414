//! `switchyard run` as Prometheus and an operator see it from outside:
//! - `/metrics` on the admin listener counts events per shard and type, shows each shard's
//!   queue depth and what was handed to the broker, a lost session (INVALID_SESSION false)
//!   as a gap, and refused outbound messages by kind;
//! - `gateway.shard_range` makes the process run only those shards: the fake sees only them
//!   identify, and `/status` and `switchyard status` show only them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Value, json};
use switchyard_broker::{BrokerOptions, Topic};
use switchyard_sim::{Fault, Inject, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::free_port;

/// The fake's identify window: identifying faster than that gets INVALID_SESSION, as on
/// Discord.
const SIM_IDENTIFY_WINDOW_MS: u64 = 15;
/// The gateway's, with a margin: it counts from handing out the turn, not from the IDENTIFY
/// frame reaching the fake.
const IDENTIFY_WINDOW_MS: u64 = 25;

/// A fake Discord with `shards` shards and `guilds` guilds, quick to identify with.
async fn sim(shards: u32, guilds: usize) -> SimHandle {
    let mut config = SimConfig::fast();
    config.shards = shards;
    config.world.guilds = guilds;
    config.timings.identify_window_ms = SIM_IDENTIFY_WINDOW_MS;
    Sim::start(config).await.expect("sim")
}

/// A `switchyard run` process, killed when dropped; its output goes to a file.
struct Run {
    child: Child,
    admin: String,
    resp: u16,
    log: std::path::PathBuf,
}

impl Run {
    /// Starts `switchyard run` against `sim`, with extra `SWITCHYARD_…` settings.
    fn start(sim: &SimHandle, dir: &Path, extra: &[(&str, &str)]) -> Run {
        let (resp, admin) = (free_port(), free_port());
        let admin = format!("127.0.0.1:{admin}");
        let log = dir.join("run.log");
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
        cmd.arg("run")
            .env_remove("SWITCHYARD_CONFIG")
            .env("RUST_LOG", "info")
            .env("DISCORD_TOKEN", "run-cli-test-token")
            .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
            .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join("sessions"))
            .env(
                "SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS",
                IDENTIFY_WINDOW_MS.to_string(),
            )
            .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
            .env("SWITCHYARD_ADMIN_BIND", &admin);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("switchyard run starts");
        Run {
            child,
            admin,
            resp,
            log,
        }
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, path: &str) -> Option<String> {
        reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .ok()?
            .text()
            .await
            .ok()
    }

    /// The admin listener's `/status` document.
    async fn status(&self) -> Option<Value> {
        serde_json::from_str(&self.get("/status").await?).ok()
    }

    /// The shards of `/status`, by id: their state.
    async fn shard_states(&self) -> Option<BTreeMap<u64, String>> {
        let doc = self.status().await?;
        doc["gateway"]["shards"]
            .as_array()?
            .iter()
            .map(|s| Some((s["id"].as_u64()?, s["state"].as_str()?.to_owned())))
            .collect()
    }

    /// The samples of `/metrics`.
    async fn metrics(&self) -> Vec<Sample> {
        parse(&self.get("/metrics").await.unwrap_or_default())
    }

    /// Waits until `check` holds, or fails with the process's output.
    async fn until(&self, what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check().await {
            assert!(
                Instant::now() < deadline,
                "{what} did not happen\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses the Prometheus text format (our label values hold no commas or quotes).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|l| !l.is_empty())
                .filter_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().ok()?,
            })
        })
        .collect()
}

/// The sum of the samples of `name` whose labels include `labels` (`None`: no such series).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// A text channel of every guild, with its guild's shard.
fn channels(sim: &SimHandle) -> Vec<(u64, u64, u32)> {
    sim.world()
        .guilds
        .iter()
        .filter_map(|g| {
            let ch = g.channels.iter().find(|c| c.kind == 0)?;
            let shard = switchyard_sim::Guild::shard(g.id, sim.config().shards);
            Some((g.id, ch.id, shard))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_publishes_gaps_and_refused_outbound_messages() {
    let sim = sim(2, 6).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut run = Run::start(&sim, dir.path(), &[]);
    run.until("both shards active", async || {
        run.shard_states()
            .await
            .is_some_and(|s| s.len() == 2 && s.values().all(|state| state == "active"))
    })
    .await;

    // One message per guild, then two more in the first: MESSAGE_CREATE counted per shard.
    let channels = channels(&sim);
    let mut expected: BTreeMap<u32, f64> = BTreeMap::from([(0, 0.0), (1, 0.0)]);
    let first = channels[0];
    for (i, &(_, channel, shard)) in channels.iter().chain([&first, &first]).enumerate() {
        sim.inject(&Inject::Message {
            channel_id: Snowflake(channel),
            content: format!("metrics {i}"),
            author_id: None,
        })
        .expect("inject");
        *expected.entry(shard).or_default() += 1.0;
    }
    assert!(
        expected.values().all(|n| *n > 0.0),
        "the world puts guilds on both shards: {expected:?}"
    );
    let events = "switchyard_gateway_events_total";
    let injected: f64 = expected.values().sum();
    let mut samples = Vec::new();
    run.until("every MESSAGE_CREATE counted", async || {
        samples = run.metrics().await;
        value(&samples, events, &[("event", "MESSAGE_CREATE")]) == Some(injected)
    })
    .await;
    for (shard, n) in &expected {
        let shard = shard.to_string();
        let label = [("shard", shard.as_str())];
        assert_eq!(
            value(
                &samples,
                events,
                &[("shard", &shard), ("event", "MESSAGE_CREATE")]
            ),
            Some(*n),
            "MESSAGE_CREATE on shard {shard}: {samples:?}"
        );
        assert_eq!(
            value(&samples, events, &[("shard", &shard), ("event", "READY")]),
            Some(1.0),
            "one READY on shard {shard}"
        );
        let dispatched = sim
            .counters()
            .sessions
            .iter()
            .find(|s| s.shard[0].to_string() == shard)
            .map(|s| s.last_seq as f64);
        assert_eq!(
            value(&samples, events, &label),
            dispatched,
            "every dispatch of shard {shard} is counted once"
        );
        assert!(
            value(&samples, "switchyard_gateway_queue_depth", &label).is_some(),
            "a queue depth for shard {shard}: {samples:?}"
        );
    }
    // Everything received is handed to the broker, and the queues drain.
    run.until("every event published and the queues empty", async || {
        let s = run.metrics().await;
        ["0", "1"].iter().all(|shard| {
            let label = [("shard", *shard)];
            let got = value(&s, events, &label);
            got.is_some()
                && value(&s, "switchyard_gateway_published_total", &label) == got
                && value(&s, "switchyard_gateway_queue_depth", &label) == Some(0.0)
        })
    })
    .await;
    assert_eq!(
        value(&samples, "switchyard_gateway_gaps_total", &[]).unwrap_or(0.0),
        0.0,
        "no gap yet"
    );

    // A session that cannot be resumed: a new one is identified and the gap is counted.
    let lost = sim
        .counters()
        .sessions
        .iter()
        .find(|s| s.shard[0] == 0)
        .map(|s| s.session_id.clone())
        .expect("shard 0's session");
    let hit = sim
        .fault(&Fault::InvalidSession {
            resumable: false,
            session_id: Some(lost.clone()),
        })
        .expect("fault");
    assert_eq!(hit, 1);
    run.until("a gap counted on shard 0", async || {
        let s = run.metrics().await;
        value(&s, "switchyard_gateway_gaps_total", &[("shard", "0")]) == Some(1.0)
    })
    .await;
    let samples = run.metrics().await;
    assert_eq!(
        value(&samples, "switchyard_gateway_gaps_total", &[("shard", "1")]).unwrap_or(0.0),
        0.0,
        "shard 1 lost nothing"
    );
    assert_eq!(
        value(&samples, events, &[("shard", "0"), ("event", "READY")]),
        Some(2.0),
        "shard 0 identified a new session"
    );

    // Refused outbound messages are counted by kind, and nothing stops.
    let broker = switchyard_broker::connect(
        &format!("redis://127.0.0.1:{}", run.resp),
        &BrokerOptions::default(),
    )
    .await
    .expect("RESP");
    let (guild, channel, _) = first;
    for (topic, payload) in [
        (
            format!("outbound.discord.{guild}.{channel}.1"),
            r#"{"content": "x""#,
        ),
        (format!("outbound.discord.{guild}.0.1"), r#""no channel""#),
    ] {
        broker
            .publish(&Topic::new(&topic).expect("topic"), Bytes::from(payload))
            .await
            .expect("publish");
    }
    let errors = "switchyard_outbound_errors_total";
    run.until("both refusals counted", async || {
        let s = run.metrics().await;
        value(&s, errors, &[("kind", "bad_json")]) == Some(1.0)
            && value(&s, errors, &[("kind", "no_channel")]) == Some(1.0)
    })
    .await;
    let samples = run.metrics().await;
    assert_eq!(
        value(
            &samples,
            "switchyard_outbound_total",
            &[("result", "error")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&samples, "switchyard_gateway_identifies_total", &[]),
        Some(3.0),
        "two shards identified, then shard 0 once more\n{}",
        run.output()
    );
    assert_eq!(
        run.child.try_wait().expect("try_wait"),
        None,
        "still running"
    );
    assert!(
        sim.counters().rest_calls.iter().all(|c| c.method != "POST"),
        "nothing refused reached Discord"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_range_runs_only_those_shards() {
    let sim = sim(4, 8).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // The shard count comes from /gateway/bot (4); this node runs shards 1 and 2 of them.
    let run = Run::start(
        &sim,
        dir.path(),
        &[("SWITCHYARD_GATEWAY_SHARD_RANGE", "[1, 2]")],
    );
    run.until("shards 1 and 2 active", async || {
        run.shard_states().await.is_some_and(|s| {
            s.keys().copied().collect::<Vec<_>>() == [1, 2]
                && s.values().all(|state| state == "active")
        })
    })
    .await;
    let doc = run.status().await.expect("status");
    for s in doc["gateway"]["shards"].as_array().expect("shards") {
        assert_eq!(s["total"], 4, "{s}");
    }

    // Only those shards identified with the fake, each as [id, 4].
    let mut identified: Vec<[u32; 2]> = sim.counters().sessions.iter().map(|s| s.shard).collect();
    identified.sort_unstable();
    assert_eq!(identified, [[1, 4], [2, 4]]);

    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["status", "--admin", &run.admin])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("status");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    let rows: Vec<&str> = shown
        .lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let id = cols.next()?;
            (id.parse::<u32>().is_ok() && cols.next() == Some("active")).then_some(id)
        })
        .collect();
    assert_eq!(rows, ["1", "2"], "{shown}");
    assert!(
        shown.contains("shards ready 2/2"),
        "this node's shards: {shown}"
    );
}

/// `GET path` on the admin listener: the status and the JSON body (status 0 while the
/// listener is not up yet).
async fn get_json(run: &Run, path: &str) -> (u16, Value) {
    let Ok(response) = reqwest::get(format!("http://{}{path}", run.admin)).await else {
        return (0, Value::Null);
    };
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// The user ids of a list of members in an answer.
fn member_ids(doc: &Value) -> Vec<String> {
    doc["data"]
        .as_array()
        .map(|members| {
            members
                .iter()
                .filter_map(|m| m["user"]["id"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_cache_api_answers_what_each_shard_holds() {
    let sim = sim(2, 4).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // A nested table through the environment: its value is TOML.
    let run = Run::start(
        &sim,
        dir.path(),
        &[("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }")],
    );
    let world = sim.world();
    let guild = &world.guilds[0];
    let base = format!("/v1/cache/switchyard/guilds/{}", guild.id);
    run.until("the guild in its shard's cache", async || {
        get_json(&run, &base).await.0 == 200
    })
    .await;
    let (_, doc) = get_json(&run, &base).await;
    assert_eq!(doc["data"]["name"], guild.name);
    let shard = switchyard_core::outbound::shard_of(guild.id, 2);
    assert_eq!(doc["shard"], shard, "{doc}");
    assert!(doc["seq"].as_u64().is_some(), "{doc}");

    let member = &guild.members[0];
    let (status, doc) = get_json(&run, &format!("{base}/members/{}", member.user.id)).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["data"]["user"]["id"], member.user.id.to_string());
    let (status, doc) = get_json(&run, &format!("{base}/members/1")).await;
    assert_eq!(
        (status, &doc["code"], &doc["message"]),
        (404, &json!(10007), &json!("Unknown Member"))
    );
    let (status, doc) = get_json(&run, &format!("{base}/channels")).await;
    assert_eq!(
        (status, doc["data"].as_array().map(Vec::len)),
        (200, Some(guild.channels.len()))
    );
    // Pages, batches and searches of members.
    let (status, doc) = get_json(&run, &format!("{base}/members?limit=2")).await;
    let mut ids: Vec<u64> = guild.members.iter().map(|m| m.user.id).collect();
    ids.sort_unstable();
    let page: Vec<String> = ids[..2].iter().map(u64::to_string).collect();
    assert_eq!((status, member_ids(&doc)), (200, page), "{doc}");
    let asked = format!("{},1,{}", ids[1], ids[0]);
    let (_, doc) = get_json(&run, &format!("{base}/members?ids={asked}")).await;
    assert_eq!(member_ids(&doc), [ids[1].to_string(), ids[0].to_string()]);
    let name = &member.user.username;
    let prefix: String = name.chars().take(3).collect::<String>().to_uppercase();
    let (status, doc) = get_json(&run, &format!("{base}/members/search?query={prefix}")).await;
    assert_eq!(status, 200, "{doc}");
    assert!(
        member_ids(&doc).contains(&member.user.id.to_string()),
        "{prefix}: {doc}"
    );
    let (status, doc) = get_json(&run, &format!("{base}/members/search?status=away")).await;
    assert_eq!((status, &doc["code"]), (400, &json!(50035)), "{doc}");
    let (status, doc) = get_json(&run, &format!("{base}/members?limit=0")).await;
    assert_eq!((status, &doc["code"]), (400, &json!(50035)), "{doc}");
    // Permissions, as Discord writes them; users and the guilds they share.
    let (status, doc) = get_json(
        &run,
        &format!("{base}/members/{}/permissions", member.user.id),
    )
    .await;
    assert_eq!(status, 200, "{doc}");
    assert!(
        doc["data"]["permissions"]
            .as_str()
            .is_some_and(|p| p.parse::<u64>().is_ok()),
        "{doc}"
    );
    let user = format!("/v1/cache/switchyard/users/{}", member.user.id);
    let (status, doc) = get_json(&run, &user).await;
    assert_eq!(
        (status, &doc["data"]["username"]),
        (200, &json!(name)),
        "{doc}"
    );
    let (status, doc) = get_json(&run, &format!("{user}/guilds")).await;
    assert_eq!(status, 200, "{doc}");
    assert!(
        doc["data"]
            .as_array()
            .is_some_and(|g| g.contains(&json!(guild.id.to_string()))),
        "{doc}"
    );
    let role = guild.roles.last().map(|r| r.id).unwrap_or(guild.id);
    let (status, doc) = get_json(&run, &format!("{base}/roles/{role}")).await;
    assert_eq!(
        (status, &doc["data"]["id"]),
        (200, &json!(role.to_string())),
        "{doc}"
    );

    let (status, doc) = get_json(&run, "/v1/cache/switchyard/guilds/abc").await;
    assert_eq!((status, &doc["code"]), (400, &json!(50035)), "{doc}");
    let (status, _) = get_json(&run, "/v1/cache/nobody/counts").await;
    assert_eq!(status, 404);
    let (status, doc) = get_json(&run, "/v1/cache/switchyard/counts").await;
    assert_eq!(
        (status, doc["shards"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{doc}"
    );
}
