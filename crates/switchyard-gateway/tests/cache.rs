//! The per-shard cache as a consumer sees it: with `[gateway.cache]` on, update and delete
//! events carry the object as it was in the envelope's `old`; off (the default), none does;
//! an event the cache cannot read is still published unchanged.

mod common;

use common::{env, recv};
use serde_json::{Value, json};
use switchyard_broker::Subscription;
use switchyard_cache::CacheConfig;
use switchyard_core::Envelope;
use switchyard_gateway::CacheQuery as Q;
use switchyard_gateway::Intents;
use switchyard_sim::{Inject, SimConfig, Snowflake};

/// The next envelope of event `t`, as (d, old).
async fn next_of(sub: &mut Subscription, t: &str) -> (Value, Option<Value>) {
    loop {
        let msg = recv(sub).await;
        let env = Envelope::decode(&msg.payload).expect("envelope");
        if env.t == t {
            let d: Value = env.data().expect("d");
            let old = env
                .old
                .map(|o| serde_json::from_str(o.get()).expect("old is JSON"));
            return (d, old);
        }
    }
}

fn dispatch(env: &common::Env, t: &str, guild: u64, d: Value) {
    env.sim
        .inject(&Inject::Dispatch {
            t: t.to_owned(),
            d,
            guild_id: Some(Snowflake(guild)),
            bot_id: None,
        })
        .expect("inject");
}

fn cached_config(env: &common::Env) -> switchyard_gateway::GatewayConfig {
    let mut config = env.config();
    config.intents |= Intents::GUILD_MEMBERS;
    config.cache = CacheConfig::all();
    config
}

#[tokio::test]
async fn message_edits_and_deletes_carry_the_message_as_it_was() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let gw = env.start(cached_config(&env)).await;
    let guild = env.sim.world().guilds[0].id;
    let ch = env.channel(0);
    env.say(ch, "before");
    let (created, old) = next_of(&mut sub, "MESSAGE_CREATE").await;
    assert_eq!((created["content"].as_str(), old), (Some("before"), None));
    let id = created["id"].as_str().expect("id").to_owned();

    let ids = json!({"id": id, "channel_id": ch.to_string(), "guild_id": guild.to_string()});
    let mut edit = ids.clone();
    edit["content"] = json!("after");
    dispatch(&env, "MESSAGE_UPDATE", guild, edit);
    let (d, old) = next_of(&mut sub, "MESSAGE_UPDATE").await;
    assert_eq!(d["content"], "after");
    let old = old.expect("old on MESSAGE_UPDATE");
    assert_eq!(
        (old["id"].as_str(), old["content"].as_str()),
        (Some(id.as_str()), Some("before"))
    );

    dispatch(&env, "MESSAGE_DELETE", guild, ids);
    let (_, old) = next_of(&mut sub, "MESSAGE_DELETE").await;
    assert_eq!(
        old.expect("old on MESSAGE_DELETE")["content"],
        "after",
        "the edited message"
    );
    gw.shutdown().await;
}

#[tokio::test]
async fn a_member_update_carries_the_member_from_guild_create() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let gw = env.start(cached_config(&env)).await;
    let world = env.sim.world();
    let guild = &world.guilds[0];
    let member = &guild.members[0];
    // The GUILD_CREATE has arrived (and filled the cache) before anything injected later.
    next_of(&mut sub, "GUILD_CREATE").await;
    let user = json!({"id": member.user.id.to_string(), "username": member.user.username});
    dispatch(
        &env,
        "GUILD_MEMBER_UPDATE",
        guild.id,
        json!({"guild_id": guild.id.to_string(), "user": user, "roles": [], "nick": "renamed"}),
    );
    let (d, old) = next_of(&mut sub, "GUILD_MEMBER_UPDATE").await;
    assert_eq!(d["nick"], "renamed");
    let old = old.expect("old on GUILD_MEMBER_UPDATE");
    assert_eq!(old["user"]["id"], member.user.id.to_string());
    assert_eq!(
        old["nick"].as_str(),
        member.nick.as_deref(),
        "the nick before"
    );
    let roles: Vec<String> = member.roles.iter().map(u64::to_string).collect();
    assert_eq!(old["roles"], json!(roles), "the roles before");

    // A payload the cache cannot read is published as received, without `old`.
    dispatch(
        &env,
        "GUILD_MEMBER_UPDATE",
        guild.id,
        json!({"guild_id": guild.id.to_string(), "user": user, "roles": "not a list"}),
    );
    let (d, old) = next_of(&mut sub, "GUILD_MEMBER_UPDATE").await;
    assert_eq!((d["roles"].as_str(), old), (Some("not a list"), None));
    gw.shutdown().await;
}

#[tokio::test]
async fn without_the_cache_no_event_carries_old() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let gw = env.start(env.config()).await;
    let guild = env.sim.world().guilds[0].id;
    let ch = env.channel(0);
    env.say(ch, "before");
    let (created, _) = next_of(&mut sub, "MESSAGE_CREATE").await;
    dispatch(
        &env,
        "MESSAGE_DELETE",
        guild,
        json!({"id": created["id"], "channel_id": ch.to_string(), "guild_id": guild.to_string()}),
    );
    let (_, old) = next_of(&mut sub, "MESSAGE_DELETE").await;
    assert_eq!(old, None);
    gw.shutdown().await;
}

#[tokio::test]
async fn reads_answer_from_the_cache_with_the_shard_and_sequence() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let gw = env.start(cached_config(&env)).await;
    let world = env.sim.world();
    let guild = &world.guilds[0];
    let view = gw.cache_view();
    assert_eq!(view.bot(), gw.bot());
    // Every guild's GUILD_CREATE has been read once the first message after them arrives.
    env.say(env.channel(0), "after the guilds");
    next_of(&mut sub, "MESSAGE_CREATE").await;

    let read = view.query(&Q::Guild { guild: guild.id }).expect("guild");
    assert_eq!(read.shard, 0);
    assert!(read.seq.is_some_and(|s| s > 1), "{read:?}");
    assert_eq!(read.data["name"], guild.name);
    let channels = view
        .query(&Q::Channels { guild: guild.id })
        .expect("channels")
        .data;
    assert_eq!(
        channels.as_array().map(Vec::len),
        Some(guild.channels.len()),
        "{channels}"
    );
    let roles = view
        .query(&Q::Roles { guild: guild.id })
        .expect("roles")
        .data;
    assert_eq!(roles.as_array().map(Vec::len), Some(guild.roles.len()));
    let member = &guild.members[0];
    let read = view
        .query(&Q::Member {
            guild: guild.id,
            user: member.user.id,
        })
        .expect("member");
    assert_eq!(read.data["user"]["id"], member.user.id.to_string());
    let messages = view
        .query(&Q::Messages {
            guild: guild.id,
            channel: env.channel(0),
            before: None,
            limit: 10,
        })
        .expect("messages")
        .data;
    assert_eq!(messages[0]["content"], "after the guilds");

    let miss = view
        .query(&Q::Member {
            guild: guild.id,
            user: 1,
        })
        .expect_err("no such member");
    assert_eq!(
        (miss.to_string().as_str(), miss.discord_code()),
        ("Unknown Member", Some(10007))
    );
    assert_eq!(
        view.query(&Q::Guild { guild: 1 << 22 })
            .expect_err("no such guild")
            .discord_code(),
        Some(10004)
    );
    let counts = view.counts().expect("counts");
    assert_eq!(counts["shards"][0]["counts"]["guilds"], world.guilds.len());
    gw.shutdown().await;

    let off = env.start(env.config()).await;
    assert_eq!(
        off.cache_view().query(&Q::Guild { guild: guild.id }),
        Err(switchyard_gateway::CacheMiss::Off)
    );
    off.shutdown().await;
}

#[tokio::test]
async fn a_large_guilds_members_are_requested_for_the_cache_and_published_nowhere() {
    let mut sim = SimConfig::fast();
    sim.world.guilds = 2;
    sim.world.members_per_guild = 120;
    let env = env(sim).await;
    let mut sub = env.subscribe("inbound.>").await;
    let mut config = cached_config(&env);
    config.cache.request_members = true;
    let gw = env.start(config).await;
    let world = env.sim.world();
    let view = gw.cache_view();
    // GUILD_CREATE carries fewer than large_threshold members; the chunks bring the rest.
    for guild in &world.guilds {
        let all = guild.members.len();
        let mut seen = 0;
        for _ in 0..400 {
            let page = view
                .query(&Q::MembersPage {
                    guild: guild.id,
                    after: 0,
                    limit: 1000,
                })
                .map(|r| r.data.as_array().map_or(0, Vec::len));
            seen = page.unwrap_or(0);
            if seen >= all {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        assert!(
            seen >= all,
            "guild {}: {seen} of {all} members cached",
            guild.id
        );
    }
    // One request per guild reached Discord, and no consumer saw the chunks.
    let requests: usize = env
        .sim
        .counters()
        .sessions
        .iter()
        .flat_map(|s| s.commands.iter())
        .filter(|c| c.op == 8)
        .count();
    assert_eq!(requests, world.guilds.len());
    env.say(env.channel(0), "after the chunks");
    loop {
        let msg = recv(&mut sub).await;
        let v: Value = serde_json::from_slice(&msg.payload).expect("json");
        assert_ne!(v["t"], "GUILD_MEMBERS_CHUNK", "published: {v}");
        if v["t"] == "MESSAGE_CREATE" {
            break;
        }
    }
    gw.shutdown().await;
}

#[tokio::test]
async fn a_face_reads_the_bot_its_guilds_scoped_guild_creates_and_member_requests() {
    let env = env(SimConfig::fast()).await;
    let mut sub = env.subscribe("inbound.>").await;
    let config = cached_config(&env);
    let intents = config.intents.bits();
    let gw = env.start(config).await;
    let world = env.sim.world();
    let view = gw.cache_view();
    env.say(env.channel(0), "after the guilds");
    next_of(&mut sub, "MESSAGE_CREATE").await;

    let me = view.query(&Q::Identity).expect("identity");
    assert_eq!(me.shard, 0);
    assert!(me.seq.is_some());
    let bot = me.data["user"]["id"].as_str().expect("user id").to_owned();
    assert_eq!(me.data["user"]["bot"], true);
    assert_eq!(me.data["application"]["id"], bot.as_str(), "the fake's");
    assert!(me.data["application"]["flags"].is_u64());
    assert_eq!(
        (me.data["intents"].as_u64(), me.data["shards"].as_u64()),
        (Some(intents), Some(1))
    );

    let guilds = view.query(&Q::Guilds).expect("guilds").data;
    let want: Vec<Value> = world
        .guilds
        .iter()
        .map(|g| json!({"id": g.id.to_string(), "unavailable": false}))
        .collect();
    let mut got = guilds.as_array().cloned().unwrap_or_default();
    got.sort_by_key(|g| g["id"].as_str().and_then(|id| id.parse::<u64>().ok()));
    let mut want = want;
    want.sort_by_key(|g| g["id"].as_str().and_then(|id| id.parse::<u64>().ok()));
    assert_eq!(got, want);

    // The fake's guilds: 25 members and the bot, no presences, nobody in voice.
    let guild = &world.guilds[0];
    let scoped = |presences: bool, large_threshold: u32| {
        let read = view
            .query(&Q::GuildCreate {
                guild: guild.id,
                presences,
                large_threshold,
            })
            .expect("guild create");
        assert_eq!(read.shard, 0);
        read.data
    };
    let members = |g: &Value| g["members"].as_array().map_or(0, Vec::len);
    let all = scoped(true, 50);
    assert_eq!(
        (members(&all), &all["large"]),
        (guild.members.len() + 1, &json!(false))
    );
    assert_eq!(all["name"], guild.name);
    let without = scoped(false, 50);
    assert_eq!(
        members(&without),
        1,
        "the bot alone: {}",
        without["members"]
    );
    assert_eq!(without["members"][0]["user"]["id"], bot.as_str());
    assert_eq!(without["presences"], json!([]));
    let large = scoped(true, 10);
    assert_eq!((members(&large), &large["large"]), (1, &json!(true)));
    let miss = view
        .query(&Q::GuildCreate {
            guild: 1 << 22,
            presences: true,
            large_threshold: 50,
        })
        .expect_err("no such guild");
    assert_eq!(miss.discord_code(), Some(10004));

    let request = |query: Option<&str>, limit: usize, user_ids: Option<Vec<u64>>| {
        view.query(&Q::RequestMembers {
            guild: guild.id,
            query: query.map(str::to_owned),
            limit,
            user_ids,
            presences: true,
        })
        .expect("members")
        .data
    };
    let every = request(Some(""), 0, None);
    assert_eq!(every["complete"], true);
    assert_eq!(members(&every), guild.members.len() + 1);
    let first = &guild.members[0].user;
    let prefix = first.username[..2].to_uppercase();
    let found = request(Some(&prefix), 100, None);
    let names: Vec<&str> = found["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["user"]["username"].as_str())
        .collect();
    assert!(
        names.contains(&first.username.as_str()),
        "{prefix}: {names:?}"
    );
    let by_id = request(None, 0, Some(vec![first.id, 1]));
    assert_eq!(by_id["members"][0]["user"]["id"], first.id.to_string());
    assert_eq!(by_id["not_found"], json!(["1"]));
    gw.shutdown().await;
}
