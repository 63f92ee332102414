//! Past Discord's replay window: a `switchyard run` with the cache on (on Redis, so its
//! sessions and snapshots are in the key-value store, and a subscriber hears everything
//! across the restart) is killed with `kill -9`, and while it is down the fake sends its
//! session more events than it keeps for a RESUME (2,048). The restarted gateway's RESUME
//! is refused, it identifies a new session, and its cache, restored from the snapshot,
//! becomes the state to compare: as the new GUILD_CREATEs come, what changed meanwhile is
//! published as the usual update events, each with `old` and marked `synthetic: "rebuild"`,
//! and what cannot be known is reported on `control.gateway.rebuild`, in a log line and in
//! metrics.

mod cache_common;

use std::sync::{Arc, Mutex};

use cache_common::{Run, dispatch, until, user};
use serde_json::{Value, json};
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{Inject, LoadSpec, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::RedisServer;

const TOKEN: &str = "MTM3MDAwMDAwMDAwMDAwMDMz.GpOoLx.cacheRebuildHmacPart_33333";
const CACHE: &str = "{ enabled = true, snapshot_interval_ms = 200 }";
/// More than the fake keeps per session for a RESUME.
const WHILE_DOWN: u64 = 2_300;

const NEW_ROLE: u64 = 900_000_000_000_000_011;
const NEW_CHANNEL: u64 = 900_000_000_000_000_012;
const NEW_USER: u64 = 900_000_000_000_000_013;
const GONE_GUILD: u64 = 900_000_000_000_000_014;

/// Everything published on the broker, as (topic, JSON payload).
type Heard = Arc<Mutex<Vec<(String, Value)>>>;

async fn listen(url: &str) -> Heard {
    let broker = switchyard_broker::connect(url, &BrokerOptions::default())
        .await
        .expect("redis");
    let heard = Heard::default();
    for pattern in ["inbound.discord.>", "control.gateway.>"] {
        let mut sub = broker
            .subscribe(&Pattern::new(pattern).expect("pattern"))
            .await
            .expect("subscribe");
        let heard = heard.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                let v = serde_json::from_slice(&msg.payload).unwrap_or(Value::Null);
                heard.lock().expect("lock").push((msg.topic.to_string(), v));
            }
        });
    }
    heard
}

/// What only the cache holds: the fake's own state (its next GUILD_CREATE) has none of it.
fn changes_the_fake_forgets(sim: &SimHandle) {
    let g = &sim.world().guilds;
    dispatch(
        sim,
        "GUILD_ROLE_CREATE",
        g[0].id,
        json!({
            "guild_id": g[0].id.to_string(),
            "role": {"id": NEW_ROLE.to_string(), "name": "made-before", "permissions": "0",
                     "position": 5, "color": 0, "hoist": false, "managed": false, "mentionable": false},
        }),
    );
    dispatch(
        sim,
        "CHANNEL_CREATE",
        g[1].id,
        json!({
            "id": NEW_CHANNEL.to_string(), "guild_id": g[1].id.to_string(), "type": 0,
            "name": "made-before", "position": 9,
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_ADD",
        g[2].id,
        json!({
            "guild_id": g[2].id.to_string(), "user": user(NEW_USER, "newcomer"), "roles": [],
            "joined_at": "2025-01-01T00:00:00+00:00", "deaf": false, "mute": false,
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_UPDATE",
        g[0].id,
        json!({
            "guild_id": g[0].id.to_string(), "user": user(g[0].members[3].user.id, "m"),
            "nick": "changed before",
        }),
    );
    dispatch(
        sim,
        "GUILD_CREATE",
        GONE_GUILD,
        json!({
            "id": GONE_GUILD.to_string(), "name": "a guild since left", "owner_id": "1",
            "unavailable": false, "large": false, "member_count": 0, "channels": [], "threads": [],
            "roles": [], "members": [], "presences": [], "voice_states": [], "emojis": [], "stickers": [],
        }),
    );
    sim.inject(&Inject::Message {
        channel_id: Snowflake(g[0].channels[0].id),
        content: "kept, unverified".into(),
        author_id: None,
    })
    .expect("message");
}

/// Whether `v` is the snowflake `id` (a string, as Discord writes them).
fn is(v: &Value, id: u64) -> bool {
    v.as_str().and_then(|s| s.parse().ok()) == Some(id)
}

/// The last sequence the fake assigned in the session shard 0 of `run` is in.
async fn fake_seq(sim: &SimHandle, run: &Run) -> Option<u64> {
    let (_, (_, _, session)) = run.shards().await.into_iter().next()?;
    Some(sim.counters().session(&session)?.last_seq)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_replay_window_the_cache_is_rebuilt_and_tells_what_changed() {
    let redis = RedisServer::start();
    let mut config = SimConfig::fast();
    config.world.guilds = 3;
    config.timings.resume_window_ms = 60_000;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let heard = listen(&redis.url()).await;
    let url = redis.url();
    let settings = [
        ("SWITCHYARD_GATEWAY_CACHE", CACHE),
        ("SWITCHYARD_GATEWAY_INTENTS", r#"["ALL"]"#),
        ("SWITCHYARD_BROKER_URL", url.as_str()),
    ];
    let mut run = Run::start(&sim, dir.path(), "rebuilt", TOKEN, &settings);
    until("the shard active", 60, &[&run], async || {
        run.active(1).await
    })
    .await;

    // Some load (messages, presences, voice states, nicknames), then changes.
    let load = sim.start_load(LoadSpec {
        rate: 0,
        total: 400,
        ..LoadSpec::default()
    });
    let read_all = async || fake_seq(&sim, &run).await == run.shards().await.get(&0).map(|s| s.1);
    until("the load read", 60, &[&run], async || {
        load.is_finished() && read_all().await
    })
    .await;
    changes_the_fake_forgets(&sim);
    until("the changes read", 60, &[&run], read_all).await;
    let read = run.shards().await[&0].1;
    until("a snapshot of everything read", 30, &[&run], async || {
        run.metric("switchyard_cache_snapshot_seq", &[]).await >= Some(read as f64)
    })
    .await;
    run.kill();

    // The fake keeps the last 2,048 events of the session: more are sent meanwhile.
    let load = sim.start_load(LoadSpec {
        rate: 0,
        total: WHILE_DOWN,
        ..LoadSpec::default()
    });
    until("the events sent while down", 60, &[&run], async || {
        load.is_finished()
    })
    .await;
    let identifies = sim.counters().identifies;
    run.restart();
    let rebuilt = async || {
        let heard = heard.lock().expect("lock");
        heard
            .iter()
            .find(|(topic, _)| topic == "control.gateway.rebuild")
            .map(|(_, v)| v.clone())
    };
    let told = |report: &Value| -> u64 {
        report["events"]
            .as_object()
            .into_iter()
            .flat_map(|e| e.values())
            .filter_map(Value::as_u64)
            .sum()
    };
    let made_up = || {
        let heard = heard.lock().expect("lock");
        heard
            .iter()
            .filter(|(_, v)| v["synthetic"] == "rebuild")
            .count() as u64
    };
    // The report and the events come through two subscriptions: either may be first.
    until(
        "the rebuild's report and every event it counts",
        60,
        &[&run],
        async || rebuilt().await.is_some_and(|r| told(&r) == made_up()),
    )
    .await;
    let report = rebuilt().await.expect("report");

    // A new session was identified, and the gap reported as before.
    assert_eq!(
        sim.counters().identifies,
        identifies + 1,
        "one new IDENTIFY"
    );
    let heard = heard.lock().expect("lock").clone();
    assert!(
        heard.iter().any(|(t, _)| t == "control.gateway.gap"),
        "the gap is reported"
    );

    // The changes, told as Discord's events with what the cache held in `old`.
    let made_up: Vec<&(String, Value)> = heard
        .iter()
        .filter(|(_, v)| v["synthetic"] == "rebuild")
        .collect();
    let find = |t: &str, hit: &dyn Fn(&Value) -> bool| -> (String, Value) {
        made_up
            .iter()
            .find(|(_, v)| v["t"] == t && hit(v))
            .map(|(topic, v)| (topic.clone(), v.clone()))
            .unwrap_or_else(|| panic!("no made-up {t}: {made_up:#?}"))
    };
    let g = &sim.world().guilds;
    let (topic, role) = find("GUILD_ROLE_DELETE", &|v| is(&v["d"]["role_id"], NEW_ROLE));
    assert_eq!(role["old"]["name"], "made-before");
    assert_eq!(
        topic,
        format!("inbound.discord.{}.0.0", g[0].id),
        "routed as Discord's"
    );
    assert_eq!(role["seq"], Value::Null);
    let (_, channel) = find("CHANNEL_DELETE", &|v| is(&v["d"]["id"], NEW_CHANNEL));
    assert_eq!(channel["old"]["name"], "made-before");
    let (_, member) = find("GUILD_MEMBER_REMOVE", &|v| {
        is(&v["d"]["user"]["id"], NEW_USER)
    });
    assert_eq!(member["old"]["user"]["username"], "newcomer");
    let m = &g[0].members[3];
    let (_, nick) = find("GUILD_MEMBER_UPDATE", &|v| {
        is(&v["d"]["user"]["id"], m.user.id) && v["old"]["nick"] == "changed before"
    });
    assert_eq!(
        nick["d"]["nick"],
        json!(m.nick),
        "the fake's own nickname again"
    );
    let (_, gone) = find("GUILD_DELETE", &|v| is(&v["d"]["id"], GONE_GUILD));
    assert_eq!(gone["old"]["name"], "a guild since left");
    let (_, offline) = find("PRESENCE_UPDATE", &|v| v["d"]["status"] == "offline");
    assert_eq!(
        offline["old"]["status"], "online",
        "the load's presence, gone"
    );

    // The report: what was compared, made up and cannot be known.
    assert_eq!(report["complete"], true, "{report}");
    assert_eq!(
        report["removed_guilds"],
        json!([GONE_GUILD.to_string()]),
        "{report}"
    );
    assert_eq!(report["guilds_compared"], 3, "{report}");
    assert!(report["messages_unverified"].as_u64() > Some(0), "{report}");
    assert_eq!(report["shard"], 0);
    let told = told(&report);
    assert!(told >= 7, "{report}");
    assert_eq!(
        told,
        made_up.len() as u64,
        "every event the report counts was published"
    );
    assert!(
        run.output().contains("the cache was rebuilt"),
        "and a log line says so"
    );
    // (the admin listener comes up a little after the shards)
    until("the rebuild counted", 30, &[&run], async || {
        run.metric("switchyard_cache_rebuilds_total", &[]).await == Some(1.0)
    })
    .await;
    let counted = run
        .metric("switchyard_cache_rebuild_events_total", &[])
        .await;
    assert_eq!(counted, Some(told as f64));

    // The cache is the new session's state, with the messages of before kept.
    let base = format!("/v1/cache/switchyard/guilds/{}", g[0].id);
    let (_, roles) = run.get_json(&format!("{base}/roles")).await;
    assert!(
        !roles["data"].to_string().contains("made-before"),
        "{roles}"
    );
    let (status, _) = run
        .get_json(&format!("/v1/cache/switchyard/guilds/{GONE_GUILD}"))
        .await;
    assert_eq!(status, 404);
    let (_, member) = run.get_json(&format!("{base}/members/{}", m.user.id)).await;
    assert_eq!(member["data"]["nick"], json!(m.nick));
    let (_, messages) = run
        .get_json(&format!("{base}/channels/{}/messages", g[0].channels[0].id))
        .await;
    assert!(
        messages["data"].to_string().contains("kept, unverified"),
        "{messages}"
    );
}
