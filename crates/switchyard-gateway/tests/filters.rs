//! What a node publishes: per-event-type filters (an allow-list, `gateway.events`, and a
//! deny-list, `gateway.drop_events`) decide which dispatches reach the broker; a shard range
//! (`gateway.shard_range`) decides which shards this node runs.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use common::{env, recv};
use switchyard_core::Envelope;
use switchyard_gateway::{ShardPhase, ShardRange};
use switchyard_sim::{Inject, SimConfig, Snowflake};

fn names(list: &[&str]) -> HashSet<String> {
    list.iter().map(|n| (*n).to_owned()).collect()
}

/// Injects a TYPING_START, a MESSAGE_REACTION_ADD and then a message `marker` in guild 0;
/// returns the event names the consumer received, in order, up to the marker.
async fn inject_and_collect(
    env: &common::Env,
    sub: &mut switchyard_broker::Subscription,
) -> Vec<String> {
    let guild = &env.sim.world().guilds[0];
    let (g, user) = (guild.id, guild.members[0].user.id);
    let ch = env.channel(0);
    let dispatch = |t: &str, d: serde_json::Value| {
        env.sim
            .inject(&Inject::Dispatch {
                t: t.to_owned(),
                d,
                guild_id: Some(Snowflake(g)),
                bot_id: None,
            })
            .expect("inject");
    };
    dispatch(
        "TYPING_START",
        serde_json::json!({"channel_id": ch.to_string(), "guild_id": g.to_string(),
            "user_id": user.to_string(), "timestamp": 1_700_000_000}),
    );
    dispatch(
        "MESSAGE_REACTION_ADD",
        serde_json::json!({"user_id": user.to_string(), "channel_id": ch.to_string(),
            "message_id": "1", "guild_id": g.to_string(), "type": 0, "burst": false,
            "emoji": {"id": null, "name": "👍"}}),
    );
    env.say(ch, "marker");
    // One shard, one publisher, one broker: events arrive in order, so everything published
    // before the marker has arrived once the marker has.
    let mut seen = Vec::new();
    loop {
        let msg = recv(sub).await;
        let env = Envelope::decode(&msg.payload).expect("envelope");
        seen.push(env.t.to_string());
        if env.t == "MESSAGE_CREATE" && env.d.get().contains("\"content\":\"marker\"") {
            return seen;
        }
    }
}

#[tokio::test]
async fn an_allow_list_publishes_only_the_events_it_names() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let mut config = env.config();
    config.events = names(&["MESSAGE_CREATE", "TYPING_START"]);
    let gw = env.start(config).await;
    let seen = inject_and_collect(&env, &mut sub).await;
    assert_eq!(
        seen,
        ["TYPING_START", "MESSAGE_CREATE"],
        "READY, GUILD_CREATE and the reaction were dropped"
    );
    let status = gw.status();
    let shard = &status.shards[0];
    // READY, one GUILD_CREATE per guild, the reaction.
    let guilds = env.sim.world().guilds.len() as u64;
    assert_eq!(shard.skipped, 1 + guilds + 1, "{shard:?}");
    gw.shutdown().await;
}

#[tokio::test]
async fn dropped_events_are_not_published_and_the_others_are() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let mut config = env.config();
    config.drop_events = names(&["TYPING_START", "GUILD_CREATE"]);
    let gw = env.start(config).await;
    let seen = inject_and_collect(&env, &mut sub).await;
    assert_eq!(
        seen,
        ["READY", "MESSAGE_REACTION_ADD", "MESSAGE_CREATE"],
        "GUILD_CREATE and TYPING_START were dropped"
    );
    let guilds = env.sim.world().guilds.len() as u64;
    assert_eq!(gw.status().shards[0].skipped, guilds + 1);
    gw.shutdown().await;
}

/// A guild whose shard (of `total`) is `want(shard)`; its first text channel.
fn channel_on(env: &common::Env, total: u32, want: impl Fn(u32) -> bool) -> u64 {
    let world = env.sim.world();
    let guild = world
        .guilds
        .iter()
        .position(|g| want(switchyard_sim::Guild::shard(g.id, total)))
        .expect("a guild on such a shard");
    env.channel(guild)
}

#[tokio::test]
async fn a_shard_range_runs_only_those_shards() {
    let env = env(SimConfig {
        shards: 4,
        world: switchyard_sim::WorldConfig {
            guilds: 12,
            ..Default::default()
        },
        ..SimConfig::fast()
    })
    .await;
    let mut config = env.config();
    config.shard_range = Some(ShardRange { first: 1, last: 2 });
    let gw = env.start(config.clone()).await;
    assert_eq!(gw.total_shards(), 4);
    let status = gw.status();
    assert_eq!((status.ready, status.total), (2, 2));
    let ids: Vec<u32> = status.shards.iter().map(|s| s.id).collect();
    assert_eq!(ids, [1, 2], "{status:?}");
    assert!(
        status
            .shards
            .iter()
            .all(|s| s.total == 4 && s.state == ShardPhase::Active)
    );
    let identified: BTreeSet<[u32; 2]> = env
        .sim
        .counters()
        .sessions
        .iter()
        .map(|s| s.shard)
        .collect();
    assert_eq!(
        identified,
        BTreeSet::from([[1, 4], [2, 4]]),
        "only shards 1 and 2 connected"
    );

    // A message on another shard reaches nobody; one on this node's shards is published.
    let mut sub = env.subscribe("inbound.discord.>").await;
    let outside = channel_on(&env, 4, |s| s == 0 || s == 3);
    let inside = channel_on(&env, 4, |s| s == 1 || s == 2);
    env.say(outside, "elsewhere");
    env.say(inside, "here");
    let (msg, _) = common::message_with(&mut sub, "here").await;
    let envelope = Envelope::decode(&msg.payload).expect("envelope");
    assert!([1, 2].contains(&envelope.shard));
    tokio::time::sleep(Duration::from_millis(50)).await;
    while let Some(msg) = sub.try_recv() {
        let text = String::from_utf8_lossy(&msg.payload).into_owned();
        assert!(!text.contains("elsewhere"), "{text}");
    }
    gw.shutdown().await;

    // A range outside the shard count is refused, naming the setting.
    config.shard_range = Some(ShardRange { first: 3, last: 4 });
    let err = switchyard_gateway::start(config, env.deps())
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("shard_range"), "{err}");
}
