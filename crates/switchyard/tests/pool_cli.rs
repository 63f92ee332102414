//! The shard pool with real processes: two `switchyard run` of one bot on a private Redis get
//! disjoint shards that together cover all of them; `kill -9` one, and within a bounded time
//! the other holds every shard, RESUMEd (no new IDENTIFY), with no event of any session
//! missing from what a subscriber received.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::gateway::frame::Snowflake;
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle};
use switchyard_testkit::{RedisServer, free_port};

const SHARDS: u32 = 4;

/// A `switchyard run` process, killed when dropped; its output goes to a file.
struct Node {
    child: Child,
    admin: String,
    log: std::path::PathBuf,
}

impl Node {
    fn start(sim: &SimHandle, redis: &str, dir: &std::path::Path, name: &str) -> Node {
        let admin = format!("127.0.0.1:{}", free_port());
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
            .arg("run")
            .env_remove("SWITCHYARD_CONFIG")
            .env("RUST_LOG", "info")
            .env("DISCORD_TOKEN", "pool-test-token")
            .env("SWITCHYARD_BROKER_URL", redis)
            .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
            .env("SWITCHYARD_GATEWAY_POOL", "true")
            .env("SWITCHYARD_GATEWAY_POOL_LEASE_MS", "900")
            .env("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "20")
            .env("SWITCHYARD_GATEWAY_SESSION_SAVE_MS", "20")
            .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.join(name))
            .env("SWITCHYARD_ADMIN_BIND", &admin)
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("switchyard run starts");
        Node { child, admin, log }
    }

    /// The ready shard ids, from `/status`.
    async fn ready_shards(&self) -> Option<BTreeSet<u32>> {
        let body = reqwest::get(format!("http://{}/status", self.admin))
            .await
            .ok()?
            .bytes()
            .await
            .ok()?;
        let doc: Value = serde_json::from_slice(&body).ok()?;
        let shards = doc["gateway"]["shards"].as_array()?;
        Some(
            shards
                .iter()
                .filter(|s| s["state"] == "active")
                .filter_map(|s| s["id"].as_u64().and_then(|id| u32::try_from(id).ok()))
                .collect(),
        )
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `check` holds, or fails with the nodes' logs.
async fn until(what: &str, secs: u64, nodes: &[&Node], mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        if Instant::now() > deadline {
            let logs: Vec<String> = nodes.iter().map(|n| n.output()).collect();
            panic!(
                "{what} did not happen in {secs} s\n{}",
                logs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_s_shards_resume_on_the_other_with_nothing_missing() {
    let redis = RedisServer::start();
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.world.guilds = 16;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");

    // Every event of every shard, by shard and sequence.
    let broker = switchyard_broker::connect(&redis.url(), &BrokerOptions::default())
        .await
        .expect("redis");
    let mut sub = broker
        .subscribe(&Pattern::new("inbound.discord.>").expect("pattern"))
        .await
        .expect("subscribe");
    let seen: std::sync::Arc<std::sync::Mutex<BTreeMap<u64, BTreeSet<u64>>>> = Default::default();
    let recorder = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                let Ok(v) = serde_json::from_slice::<Value>(&msg.payload) else {
                    continue;
                };
                if let (Some(shard), Some(seq)) = (v["shard"].as_u64(), v["seq"].as_u64()) {
                    seen.lock()
                        .expect("lock")
                        .entry(shard)
                        .or_default()
                        .insert(seq);
                }
            }
        })
    };

    let a = Node::start(&sim, &redis.url(), dir.path(), "a");
    let b = Node::start(&sim, &redis.url(), dir.path(), "b");
    until(
        "the two nodes splitting the shards",
        30,
        &[&a, &b],
        async || match (a.ready_shards().await, b.ready_shards().await) {
            (Some(x), Some(y)) => {
                !x.is_empty()
                    && !y.is_empty()
                    && x.is_disjoint(&y)
                    && x.union(&y).count() == SHARDS as usize
            }
            _ => false,
        },
    )
    .await;
    let a_had = a.ready_shards().await.expect("a's shards");

    let world = sim.world();
    let channels: Vec<u64> = world
        .guilds
        .iter()
        .filter_map(|g| g.channels.iter().find(|c| c.kind == 0).map(|c| c.id))
        .collect();
    let say = |round: &str| {
        for (i, ch) in channels.iter().enumerate() {
            sim.inject(&Inject::Message {
                channel_id: Snowflake(*ch),
                content: format!("{round} {i}"),
                author_id: None,
            })
            .expect("inject");
        }
    };
    say("before");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // kill -9: no goodbye, no SHARD_DEATH, no final session save.
    let mut a = a;
    a.child.kill().expect("SIGKILL");
    a.child.wait().expect("reaped");
    say("while the pool notices");
    let started = Instant::now();
    until("b holding every shard", 30, &[&b], async || {
        b.ready_shards()
            .await
            .is_some_and(|s| s.len() == SHARDS as usize)
    })
    .await;
    let took = started.elapsed();
    say("after");

    // Every shard still has its first session, RESUMEd where a held it.
    let sessions = sim.counters().sessions;
    assert_eq!(
        sessions.len(),
        SHARDS as usize,
        "no new IDENTIFY: {sessions:?}"
    );
    for s in &sessions {
        if a_had.contains(&s.shard[0]) {
            assert!(s.resumes >= 1, "shard {} was resumed: {s:?}", s.shard[0]);
        }
    }
    // Nothing missing: the subscriber saw every sequence number the fake assigned.
    until("every event of every session", 20, &[&b], async || {
        let seen = seen.lock().expect("lock").clone();
        sim.counters().sessions.iter().all(|s| {
            let got = seen
                .get(&u64::from(s.shard[0]))
                .cloned()
                .unwrap_or_default();
            (1..=s.last_seq).all(|n| got.contains(&n))
        })
    })
    .await;
    assert!(took < Duration::from_secs(15), "takeover took {took:?}");
    recorder.abort();
    drop(b);
}
