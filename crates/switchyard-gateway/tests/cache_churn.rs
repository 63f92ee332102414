//! The cache end to end: a real fake and a real gateway with the cache on; the fake churns
//! thousands of changes through its session (`switchyard_sim::Churn`); once the gateway's
//! cache has read the last of them, every answer of its cache API equals the fake's own
//! state. A second gateway identifying afterwards gets GUILD_CREATEs that show that state,
//! and its cache answers the same.

mod common;

use std::time::Duration;

use common::env;
use serde_json::{Value, json};
use switchyard_cache::CacheConfig;
use switchyard_gateway::{CacheQuery as Q, CacheView, GatewayConfig, Intents, Secret};
use switchyard_sim::{ChurnSpec, Inject, LiveState, RECENT_MESSAGES, SimConfig, Snowflake};

/// Changes churned through the fake: thousands, over its four guilds.
const STEPS: u64 = 2_000;

fn cached(mut config: GatewayConfig) -> GatewayConfig {
    config.intents |= Intents::GUILD_MEMBERS | Intents::GUILD_PRESENCES;
    config.cache = CacheConfig {
        messages: RECENT_MESSAGES,
        ..CacheConfig::all()
    };
    config
}

fn only(v: &Value, keys: &[&str]) -> Value {
    Value::Object(
        keys.iter()
            .filter_map(|k| Some(((*k).to_owned(), v.get(*k)?.clone())))
            .collect(),
    )
}

fn by_id(v: Value) -> Vec<Value> {
    let mut list = v.as_array().cloned().unwrap_or_default();
    list.sort_by_key(|c| c["id"].as_str().and_then(|s| s.parse::<u64>().ok()));
    list
}

/// Waits (generously) until the one shard's cache has read dispatch `seq`.
async fn cache_reaches(view: &CacheView, seq: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let at = view.counts().expect("counts")["shards"][0]["seq"].as_u64();
        if at >= Some(seq) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the cache read up to {at:?}, not {seq}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every answer of `view` equals `state`; with `messages`, the channels' messages too (a
/// session that started after them has none).
fn equals_state(view: &CacheView, state: &LiveState, messages: bool) {
    let (mut channels, mut members, mut kept_messages) = (0, 0, 0);
    let ask = |query: Q| view.query(&query).map(|r| r.data);
    for g in state.guild_ids() {
        let guild = ask(Q::Guild { guild: g }).expect("guild");
        assert_eq!(Some(guild), state.guild(g), "guild {g}");
        let got = by_id(ask(Q::Channels { guild: g }).expect("channels"));
        assert_eq!(got, by_id(json!(state.channels(g))), "guild {g}: channels");
        channels += got.len();
        let roles = by_id(ask(Q::Roles { guild: g }).expect("roles"));
        assert_eq!(roles, by_id(json!(state.roles(g))), "guild {g}: roles");
        let stages = by_id(ask(Q::StageInstances { guild: g }).expect("stage instances"));
        assert_eq!(
            stages,
            by_id(json!(state.stage_instances(g))),
            "guild {g}: stage instances"
        );
        let events = by_id(ask(Q::ScheduledEvents { guild: g }).expect("scheduled events"));
        assert_eq!(
            events,
            by_id(json!(state.scheduled_events(g))),
            "guild {g}: scheduled events"
        );
        for user in state.member_ids(g) {
            let got = ask(Q::Member { guild: g, user }).expect("member");
            let want = state.member(g, user);
            assert_eq!(Some(got), want, "guild {g}: member {user}");
            let presence = ask(Q::Presence { guild: g, user }).ok();
            assert_eq!(
                presence,
                state.presence(g, user),
                "guild {g}: presence of {user}"
            );
            let voice = ask(Q::VoiceState { guild: g, user }).ok();
            assert_eq!(
                voice,
                state.voice_state(g, user),
                "guild {g}: voice state of {user}"
            );
        }
        members += state.member_ids(g).len() + 1;
        if messages {
            for ch in state.channels(g) {
                let id: u64 = ch["id"].as_str().and_then(|s| s.parse().ok()).expect("id");
                let got = ask(Q::Messages {
                    guild: g,
                    channel: id,
                    before: None,
                    limit: 1000,
                })
                .expect("messages");
                let mut want = state.messages(id);
                want.reverse();
                assert_eq!(got, json!(want), "channel {id}: messages, newest first");
                kept_messages += state.messages(id).len();
            }
        }
    }
    let counts = &view.counts().expect("counts")["shards"][0]["counts"];
    let presences: usize = state
        .guild_ids()
        .iter()
        .map(|g| state.presence_ids(*g).len())
        .sum();
    let voice: usize = state
        .guild_ids()
        .iter()
        .map(|g| state.voice_ids(*g).len())
        .sum();
    let want = json!({
        "guilds": state.guild_ids().len(), "unavailable_guilds": 0, "channels": channels,
        "members": members, "presences": presences, "voice_states": voice,
        "messages": if messages { kept_messages } else { 0 },
    });
    assert_eq!(
        only(
            counts,
            &[
                "guilds",
                "unavailable_guilds",
                "channels",
                "members",
                "presences",
                "voice_states",
                "messages"
            ]
        ),
        want
    );
}

#[tokio::test]
async fn after_thousands_of_changes_every_cache_answer_equals_the_fakes_state() {
    let env = env(SimConfig {
        replay_buffer: 50_000,
        ..SimConfig::fast()
    })
    .await;
    let gw = env.start(cached(env.config())).await;
    let view = gw.cache_view();
    let guilds = env.sim.world().guilds.len() as u64;
    cache_reaches(&view, 1 + guilds).await;

    let report = env
        .sim
        .churn(&ChurnSpec {
            seed: 21,
            steps: STEPS,
            settle: true,
        })
        .expect("churn");
    assert!(report.events > STEPS, "{report:?}");
    // a last event the cache reads and that changes nothing: the cache has read everything
    // once it has read this one
    let guild = env.sim.world().guilds[0].id;
    env.sim
        .inject(&Inject::Dispatch {
            t: "MESSAGE_DELETE".into(),
            d: json!({"id": "1", "channel_id": "1", "guild_id": guild.to_string()}),
            guild_id: Some(Snowflake(guild)),
            bot_id: None,
        })
        .expect("inject");
    cache_reaches(&view, 1 + guilds + report.events + 1).await;
    let state = env
        .sim
        .churn_state(Clone::clone)
        .expect("the churned state");
    equals_state(&view, &state, true);

    // a session that identifies now starts from the churned state
    let mut other = GatewayConfig::new("otherbot", Secret::new("other-token"));
    other.identify_window = Duration::from_millis(50);
    let late = env.start(cached(other)).await;
    cache_reaches(&late.cache_view(), 1 + guilds).await;
    equals_state(&late.cache_view(), &state, false);
    late.shutdown().await;
    gw.shutdown().await;
}
