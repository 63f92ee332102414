//! The face's state sources against the fake Discord. `RemoteSource` reads a real
//! `switchyard run` (two shards, cache on, an admin token) over its admin listener's cache
//! API, with a dead URL first in its list; `LocalSource` reads a gateway in this process on
//! the same fake. Both answer what the fake's world says: the bot and its application, every
//! guild of both shards, GUILD_CREATE scoped by Discord's rules, and op 8 member requests.

#[allow(dead_code, unused_imports)]
#[path = "../src/face_source/mod.rs"]
mod face_source;

mod cache_common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cache_common::{Run, dispatch};
use face_source::{LocalSource, RemoteSource};
use serde_json::{Value, json};
use switchyard_face::{GuildCreateScope, MemberLookup, SourceError, StateSource};
use switchyard_gateway::{CacheConfig, FileSessionStore, GatewayConfig, GatewayDeps, Intents};
use switchyard_sim::{Sim, SimConfig, SimHandle};

const SHARDS: u32 = 2;
/// Discord-shaped tokens: their user ids are 137000000000000033 and …044.
const REMOTE: &str = "MTM3MDAwMDAwMDAwMDAwMDMz.GpOoLx.faceSourceRemoteHmacPart_01";
const REMOTE_BOT: u64 = 137_000_000_000_000_033;
const LOCAL: &str = "MTM3MDAwMDAwMDAwMDAwMDQ0.GpOoLx.faceSourceLocalHmacPart_002";
const LOCAL_BOT: u64 = 137_000_000_000_000_044;
const ADMIN_TOKEN: &str = "face-source-admin-token";
/// A member of the fake's first guild who joins a voice channel.
const IN_VOICE: usize = 3;

/// Polls `check` until it gives `Some`, or fails naming `what` (with the process's log).
async fn until<T>(what: &str, run: Option<&Run>, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in 60 s\n{}",
            run.map(Run::output).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn json(raw: &serde_json::value::RawValue) -> Value {
    serde_json::from_str(raw.get()).expect("JSON")
}

fn user_ids(list: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["user"]["id"].as_str()?.parse().ok())
        .collect();
    ids.sort_unstable();
    ids
}

/// What every source must answer about the fake's world, for the bot `bot`.
async fn answers_as_discord_would(
    source: &dyn StateSource,
    sim: &SimHandle,
    bot: u64,
    run: Option<&Run>,
) {
    let world = sim.world();
    let every: Vec<u64> = world.guilds.iter().map(|g| g.id).collect();
    let guilds = until("every guild of both shards available", run, async || {
        let guilds = source.guilds().await.ok()?;
        let mut ids: Vec<u64> = guilds
            .iter()
            .filter(|g| !g.unavailable)
            .map(|g| g.id)
            .collect();
        ids.sort_unstable();
        let mut want = every.clone();
        want.sort_unstable();
        (ids == want).then_some(guilds)
    })
    .await;
    assert_eq!(guilds.len(), every.len(), "each once");

    let me = source.identity().await.expect("identity");
    assert_eq!(me.user_id, bot);
    assert_eq!(json(&me.user)["id"], bot.to_string());
    let app = json(&me.application);
    assert_eq!(
        (app["id"].as_str(), app["flags"].as_u64()),
        (Some(bot.to_string().as_str()), Some(565_248))
    );
    assert_eq!(me.intents, Intents::all().bits());
    assert_eq!(me.shards, SHARDS);

    // Discord's rules on the fake's first guild (25 members and the bot, no presences), one
    // member in voice.
    let guild = &world.guilds[0];
    let voice = guild.members[IN_VOICE].user.id;
    let scope = |presences, large_threshold| GuildCreateScope {
        presences,
        large_threshold,
    };
    let without = until("the voice state cached", run, async || {
        let snap = source.guild_create(guild.id, scope(false, 50)).await.ok()?;
        let g = json(&snap.payload);
        (user_ids(&g["members"]) == {
            let mut ids = vec![bot, voice];
            ids.sort_unstable();
            ids
        })
        .then_some((snap, g))
    })
    .await;
    let (snap, g) = without;
    assert_eq!(snap.shard, switchyard_sim::Guild::shard(guild.id, SHARDS));
    assert!(snap.seq.is_some());
    assert_eq!(
        (g["name"].as_str(), &g["presences"]),
        (Some(guild.name.as_str()), &json!([]))
    );
    let all = json(
        &source
            .guild_create(guild.id, scope(true, 50))
            .await
            .expect("guild")
            .payload,
    );
    assert_eq!(user_ids(&all["members"]).len(), guild.members.len() + 1);
    assert_eq!(all["large"], false);
    let large = json(
        &source
            .guild_create(guild.id, scope(true, 10))
            .await
            .expect("guild")
            .payload,
    );
    assert_eq!(large["large"], true, "26 members above 10");
    assert_eq!(
        user_ids(&large["members"]).len(),
        2,
        "no one online: the bot and voice"
    );
    assert_eq!(
        source
            .guild_create(1 << 22, scope(true, 50))
            .await
            .map(|s| s.shard),
        Err(SourceError::UnknownGuild(1 << 22))
    );

    let lookup = |query: Option<&str>, limit, user_ids: Option<Vec<u64>>| MemberLookup {
        query: query.map(str::to_owned),
        limit,
        user_ids,
        presences: false,
    };
    let everyone = source
        .members(guild.id, &lookup(Some(""), 0, None))
        .await
        .expect("members")
        .expect("the whole member list is cached");
    assert_eq!(everyone.members.len(), guild.members.len() + 1);
    let first = &guild.members[0].user;
    let prefix = first.username[..2].to_uppercase();
    let found = source
        .members(guild.id, &lookup(Some(&prefix), 100, None))
        .await
        .expect("members")
        .expect("complete");
    let found = Value::Array(found.members.iter().map(|m| json(m)).collect());
    assert!(user_ids(&found).contains(&first.id), "{prefix}: {found}");
    let by_id = source
        .members(guild.id, &lookup(None, 0, Some(vec![first.id, 1])))
        .await
        .expect("members")
        .expect("complete");
    assert_eq!(by_id.members.len(), 1);
    assert_eq!(by_id.not_found, [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sources_answer_as_discord_would_from_the_caches() {
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.timings.identify_window_ms = 15;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = [
        ("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }"),
        ("SWITCHYARD_GATEWAY_INTENTS", r#"["ALL"]"#),
        ("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let run = Run::start(&sim, dir.path(), "remote", REMOTE, &settings);

    let mut gateway = GatewayConfig::new("local", switchyard_gateway::Secret::new(LOCAL));
    gateway.intents = Intents::all();
    gateway.cache = CacheConfig::all();
    gateway.identify_window = Duration::from_millis(15);
    let deps = GatewayDeps {
        broker: Arc::new(switchyard_broker::embedded::EmbeddedBroker::new(
            Default::default(),
        )),
        rest: switchyard_rest::RestClient::new(switchyard_rest::RestConfig {
            upstream: sim.http_url().to_owned(),
            ..Default::default()
        })
        .await
        .expect("rest client"),
        sessions: Arc::new(FileSessionStore::new(dir.path().join("local")).expect("store")),
        shared: None,
    };
    let local = switchyard_gateway::start(gateway, deps)
        .await
        .expect("gateway starts");

    // Both bots see the voice state.
    let guild = &sim.world().guilds[0];
    let voice_channel = guild
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .map_or(guild.channels[0].id, |c| c.id);
    let voice = guild.members[IN_VOICE].user.id;
    let remote = RemoteSource::new(
        &[
            format!("http://127.0.0.1:{}", switchyard_testkit::free_port()),
            format!("http://{}", run.admin),
        ],
        "switchyard",
        Some(ADMIN_TOKEN.to_owned()),
    )
    .expect("remote source");
    until("the remote shards ready", Some(&run), async || {
        remote.identity().await.ok()
    })
    .await;
    until("the local shards ready", None, async || {
        LocalSource::new(local.cache_view()).identity().await.ok()
    })
    .await;
    dispatch(
        &sim,
        "VOICE_STATE_UPDATE",
        guild.id,
        json!({"guild_id": guild.id.to_string(), "channel_id": voice_channel.to_string(),
               "user_id": voice.to_string(), "session_id": "v", "deaf": false, "mute": false,
               "self_deaf": false, "self_mute": false, "self_video": false, "suppress": false}),
    );

    answers_as_discord_would(&remote, &sim, REMOTE_BOT, Some(&run)).await;
    answers_as_discord_would(&LocalSource::new(local.cache_view()), &sim, LOCAL_BOT, None).await;

    // Without the admin token the listener refuses, and the source says why.
    let refused = RemoteSource::new(&[format!("http://{}", run.admin)], "switchyard", None)
        .expect("remote source");
    match refused.identity().await {
        Err(SourceError::Unavailable(why)) => assert!(why.contains("401"), "{why}"),
        other => panic!("without the token: {other:?}"),
    }
    local.shutdown().await;
}
