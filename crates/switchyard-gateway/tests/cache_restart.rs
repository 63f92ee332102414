//! The cache across a crash, as a consumer sees it: a gateway with the cache on is aborted
//! (no close, no drain, no final save, as `kill -9`) after events its last snapshot does not
//! cover were published, and started again on the same store while the consumer stays
//! subscribed. It RESUMEs from the snapshot's sequence: the cache reads the events it missed
//! without publishing them again, so the first event after the crash carries in `old` the
//! state the events before it made, and nothing is published twice.

mod common;

use std::time::Duration;

use common::{env, recv};
use serde_json::{Value, json};
use switchyard_broker::Subscription;
use switchyard_cache::CacheConfig;
use switchyard_core::Envelope;
use switchyard_gateway::{Intents, session_key};
use switchyard_sim::{Inject, SimConfig, Snowflake};

/// `(d, old)` of every GUILD_MEMBER_UPDATE until one sets `nick`.
async fn updates_until(sub: &mut Subscription, nick: &str) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    loop {
        let msg = recv(sub).await;
        let env = Envelope::decode(&msg.payload).expect("envelope");
        if env.t != "GUILD_MEMBER_UPDATE" {
            continue;
        }
        let d: Value = env.data().expect("d");
        let old = env.old.map_or(Value::Null, |o| {
            serde_json::from_str(o.get()).expect("old is JSON")
        });
        let last = d["nick"] == nick;
        out.push((d, old));
        if last {
            return out;
        }
    }
}

#[tokio::test]
async fn after_a_crash_the_next_event_carries_the_state_the_missed_ones_made() {
    let mut sim = SimConfig::fast();
    sim.timings.resume_window_ms = 60_000;
    let env = env(sim).await;
    let mut sub = env.subscribe("inbound.>").await;
    let mut config = env.config();
    config.intents |= Intents::GUILD_MEMBERS;
    config.cache = CacheConfig {
        // only the snapshot taken as the session starts: every event after it is replayed
        snapshot_interval: Duration::from_secs(600),
        ..CacheConfig::all()
    };
    let gw = env.start(config.clone()).await;
    let key = session_key("testbot", 0, 1);
    let snapshot_seq = async || {
        let bytes = env.store().load_cache(&key).await.expect("store")?;
        serde_json::from_slice::<Value>(&bytes).ok()?["seq"].as_u64()
    };
    common::eventually_async("the session's first snapshot", async || {
        snapshot_seq().await.is_some()
    })
    .await;
    let guild = env.sim.world().guilds[0].id;
    let member = env.sim.world().guilds[0].members[0].user.id;
    let nick = |nick: &str| Inject::Dispatch {
        t: "GUILD_MEMBER_UPDATE".into(),
        d: json!({"guild_id": guild.to_string(), "user": {"id": member.to_string(), "username": "m"},
                  "nick": nick, "roles": []}),
        guild_id: Some(Snowflake(guild)),
        bot_id: None,
    };
    env.sim.inject(&nick("a")).expect("inject");
    env.sim.inject(&nick("b")).expect("inject");
    let before = updates_until(&mut sub, "b").await;
    assert_eq!(before[1].1["nick"], "a", "b's old is a");
    let published = env.sim.counters().sessions[0].last_seq;
    env.wait_saved(|s| s.seq >= published).await;
    let snapshot = snapshot_seq().await.expect("snapshot");
    assert!(
        snapshot < published,
        "the snapshot ({snapshot}) is older than a and b"
    );
    let identifies = env.sim.counters().identifies;
    gw.abort().await;

    env.sim.inject(&nick("c")).expect("inject"); // held by the fake for the RESUME
    let gw = env.start(config).await;
    let after = updates_until(&mut sub, "c").await;
    assert_eq!(after.len(), 1, "a and b are not published again: {after:?}");
    assert_eq!(after[0].1["nick"], "b", "c's old is the state a and b made");
    assert_eq!(
        env.sim.counters().identifies,
        identifies,
        "RESUMEd, not identified"
    );
    gw.shutdown().await;
}
