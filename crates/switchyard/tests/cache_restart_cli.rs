//! The cache survives `kill -9`. Under the fake's load generator at 300 events/s over two
//! shards, with a snapshot every 5 s, a `switchyard run` with the cache on is killed and
//! started again on the same session directory. It RESUMEs (the fake counts no new
//! IDENTIFY), from the older of its snapshot's sequence and the last one published: Discord
//! replays from there, the cache reads what it missed and nothing published before is
//! published again. Afterwards every cache query answers as a reference bot's does: a second
//! bot on the same fake for the whole run, with the same cache settings, never killed, which
//! saw the same events (the load, and changes to channels, roles, members, emojis and
//! threads made before the kill and while the first was down).

mod cache_common;

use std::collections::BTreeMap;

use cache_common::{Run, differences, dispatch, reads, sorted, until, user};
use serde_json::{Value, json};
use switchyard_sim::{Guild, LoadSpec, Sim, SimConfig, SimHandle};

const SHARDS: u32 = 2;
/// Discord-shaped tokens (base64 user id, timestamp, HMAC): two bots on one fake.
const VICTIM: &str = "MTM3MDAwMDAwMDAwMDAwMDEx.GpOoLx.cacheRestartVictimHmacPart_1";
const REFERENCE: &str = "MTM3MDAwMDAwMDAwMDAwMDIy.GpOoLx.cacheRestartReferenceHmac_2";
/// The load, over both shards.
const EVENTS_PER_S: u64 = 300;
const CACHE: &str = "{ enabled = true, snapshot_interval_ms = 5000 }";
const INTENTS: &str = r#"["ALL"]"#;

/// Ids of what the test makes (far from the fake's).
const NEW_CHANNEL: u64 = 900_000_000_000_000_001;
const NEW_ROLE: u64 = 900_000_000_000_000_002;
const NEW_USER: u64 = 900_000_000_000_000_003;
const NEW_THREAD: u64 = 900_000_000_000_000_004;
const NEW_EMOJI: u64 = 900_000_000_000_000_005;

/// Changes to channels, roles, members and threads, before the kill.
fn before_the_kill(sim: &SimHandle) {
    let g = &sim.world().guilds;
    dispatch(
        sim,
        "CHANNEL_CREATE",
        g[0].id,
        json!({
            "id": NEW_CHANNEL.to_string(), "guild_id": g[0].id.to_string(), "type": 0,
            "name": "made-before", "position": 9, "permission_overwrites": [],
        }),
    );
    dispatch(
        sim,
        "GUILD_ROLE_CREATE",
        g[1].id,
        json!({
            "guild_id": g[1].id.to_string(),
            "role": {"id": NEW_ROLE.to_string(), "name": "made-before", "permissions": "0",
                     "position": 5, "color": 0, "hoist": false, "managed": false, "mentionable": false},
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_REMOVE",
        g[2].id,
        json!({
            "guild_id": g[2].id.to_string(), "user": user(g[2].members[0].user.id, "gone"),
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_ADD",
        g[0].id,
        json!({
            "guild_id": g[0].id.to_string(), "user": user(NEW_USER, "newcomer"), "roles": [],
            "joined_at": "2025-01-01T00:00:00+00:00", "deaf": false, "mute": false,
        }),
    );
    dispatch(
        sim,
        "GUILD_UPDATE",
        g[3].id,
        json!({
            "id": g[3].id.to_string(), "name": "renamed before", "owner_id": g[3].owner_id.to_string(),
        }),
    );
    dispatch(
        sim,
        "CHANNEL_DELETE",
        g[4].id,
        json!({
            "id": g[4].channels[0].id.to_string(), "guild_id": g[4].id.to_string(), "type": 0,
        }),
    );
    dispatch(
        sim,
        "THREAD_CREATE",
        g[5].id,
        json!({
            "id": NEW_THREAD.to_string(), "guild_id": g[5].id.to_string(), "type": 11,
            "parent_id": g[5].channels[0].id.to_string(), "name": "thread-before",
            "thread_metadata": {"archived": false, "auto_archive_duration": 60, "locked": false},
        }),
    );
}

/// More changes, while the victim is down: the fake holds them for its sessions.
fn while_down(sim: &SimHandle) {
    let g = &sim.world().guilds;
    dispatch(
        sim,
        "CHANNEL_UPDATE",
        g[0].id,
        json!({
            "id": NEW_CHANNEL.to_string(), "guild_id": g[0].id.to_string(), "type": 0,
            "name": "renamed while down", "position": 9, "permission_overwrites": [],
        }),
    );
    dispatch(
        sim,
        "GUILD_ROLE_DELETE",
        g[1].id,
        json!({
            "guild_id": g[1].id.to_string(), "role_id": NEW_ROLE.to_string(),
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_UPDATE",
        g[0].id,
        json!({
            "guild_id": g[0].id.to_string(), "user": user(NEW_USER, "newcomer"), "roles": [],
            "nick": "nick while down",
        }),
    );
    dispatch(
        sim,
        "GUILD_EMOJIS_UPDATE",
        g[2].id,
        json!({
            "guild_id": g[2].id.to_string(),
            "emojis": [{"id": NEW_EMOJI.to_string(), "name": "blob", "roles": [], "animated": false}],
        }),
    );
    dispatch(
        sim,
        "THREAD_DELETE",
        g[5].id,
        json!({
            "id": NEW_THREAD.to_string(), "guild_id": g[5].id.to_string(), "type": 11,
            "parent_id": g[5].channels[0].id.to_string(),
        }),
    );
    dispatch(
        sim,
        "GUILD_MEMBER_REMOVE",
        g[3].id,
        json!({
            "guild_id": g[3].id.to_string(), "user": user(g[3].members[1].user.id, "gone"),
        }),
    );
}

/// Each shard's (session, last sequence the fake assigned in it) for the sessions `run` is in.
async fn fake_seqs(sim: &SimHandle, run: &Run) -> BTreeMap<u64, u64> {
    let counters = sim.counters();
    run.shards()
        .await
        .into_iter()
        .filter_map(|(id, (_, _, session))| Some((id, counters.session(&session)?.last_seq)))
        .collect()
}

/// Whether `run` received every dispatch the fake assigned to its sessions.
async fn caught_up(sim: &SimHandle, run: &Run) -> bool {
    let want = fake_seqs(sim, run).await;
    let got: BTreeMap<u64, u64> = run
        .shards()
        .await
        .into_iter()
        .map(|(id, (_, seq, _))| (id, seq))
        .collect();
    want.len() == SHARDS as usize && want == got
}

/// The lists of each guild of a snapshot that the cache API does not serve, in id order,
/// without what differs between two bots (their own member and user).
fn snapshot_lists(snapshot: &Value, bots: &[u64]) -> Value {
    let mut out = json!({});
    for g in snapshot["guilds"].as_array().into_iter().flatten() {
        let id = g["id"].as_str().unwrap_or_default();
        let members: Vec<Value> = g["members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                let id = m.pointer("/user/id").and_then(Value::as_str);
                !id.and_then(|id| id.parse().ok())
                    .is_some_and(|id| bots.contains(&id))
            })
            .cloned()
            .collect();
        out[id] = json!({
            "presences": sorted(&g["presences"], "/user/id"),
            "voice_states": sorted(&g["voice_states"], "/user_id"),
            "members": sorted(&Value::Array(members), "/user/id"),
            "threads": sorted(&g["threads"], "/id"),
            "emojis": g["emojis"], "stickers": g["stickers"],
        });
    }
    out["messages"] = snapshot["messages"].clone();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateway_resumes_with_its_cache_and_answers_as_a_reference_bot() {
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.world.guilds = 6;
    config.timings.resume_window_ms = 60_000;
    config.timings.identify_window_ms = 15;
    let sim = Sim::start(config).await.expect("sim");
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = [
        ("SWITCHYARD_GATEWAY_CACHE", CACHE),
        ("SWITCHYARD_GATEWAY_INTENTS", INTENTS),
    ];
    let mut victim = Run::start(&sim, dir.path(), "victim", VICTIM, &settings);
    let reference = Run::start(&sim, dir.path(), "reference", REFERENCE, &settings);
    let both = [&victim, &reference];
    until("both bots' shards active", 60, &both, async || {
        victim.active(SHARDS as usize).await && reference.active(SHARDS as usize).await
    })
    .await;
    let guilds: Vec<&Guild> = sim.world().guilds.iter().collect();
    assert!(
        (0..SHARDS).all(|s| guilds.iter().any(|g| Guild::shard(g.id, SHARDS) == s)),
        "guilds on every shard"
    );

    let load = sim.start_load(LoadSpec {
        rate: EVENTS_PER_S,
        ..LoadSpec::default()
    });
    before_the_kill(&sim);
    // A periodic snapshot under load, then more events published after it: the kill comes
    // between two snapshots, so the restart resumes from before what was published last.
    let started: BTreeMap<u64, u64> = victim
        .shards()
        .await
        .into_iter()
        .map(|(id, s)| (id, s.1))
        .collect();
    let snapshot_seq =
        |run: &Run, shard: u32| run.snapshot(shard, SHARDS).and_then(|s| s["seq"].as_u64());
    until(
        "a snapshot of each shard under load",
        30,
        &both,
        async || {
            (0..SHARDS)
                .all(|s| snapshot_seq(&victim, s) > started.get(&u64::from(s)).map(|n| n + 20))
        },
    )
    .await;
    let snapshotted: Vec<u64> = (0..SHARDS)
        .map(|s| snapshot_seq(&victim, s).unwrap_or(0))
        .collect();
    until(
        "events published after the snapshot",
        30,
        &both,
        async || {
            (0..SHARDS)
                .all(|s| victim.saved_seq(s, SHARDS).unwrap_or(0) > snapshotted[s as usize] + 30)
        },
    )
    .await;
    let identifies = sim.counters().identifies;
    victim.kill();

    // What the files say the restart starts from: S (snapshot) and P (published).
    let (mut replays, mut marks) = (0, Vec::new());
    for s in 0..SHARDS {
        let snapshot = snapshot_seq(&victim, s).expect("a snapshot beside the session");
        let published = victim.saved_seq(s, SHARDS).expect("a saved session");
        replays += published.saturating_sub(snapshot);
        marks.push((s, snapshot, published));
    }
    while_down(&sim);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await; // the fake holds ~150 more
    victim.restart();
    let both = [&victim, &reference];
    until("the victim's shards active again", 60, &both, async || {
        victim.active(SHARDS as usize).await
    })
    .await;
    let produced = load.stop().await;
    until("both bots read every event", 60, &both, async || {
        caught_up(&sim, &victim).await && caught_up(&sim, &reference).await
    })
    .await;

    // It resumed: no new IDENTIFY, and its sessions were resumed with what they missed.
    let counters = sim.counters();
    assert_eq!(
        counters.identifies, identifies,
        "no IDENTIFY after the restart"
    );
    for (id, (_, _, session)) in victim.shards().await {
        let s = counters.session(&session).expect("the victim's session");
        assert!(
            s.resumes >= 1 && s.replayed > 0,
            "shard {id} resumed: {s:?}"
        );
    }
    // The events between the snapshot and the last save were replayed for the cache and
    // not published again.
    let not_again = victim
        .metric("switchyard_gateway_replays_not_republished_total", &[])
        .await
        .unwrap_or(0.0);
    assert_eq!(
        not_again, replays as f64,
        "(shard, snapshot seq, published seq): {marks:?}"
    );
    assert!(
        replays > 0,
        "the restart resumed from before the last publication: {marks:?}"
    );

    // Every read answers as the reference's.
    let world = sim.world();
    let mut checked = 0;
    for g in &world.guilds {
        let mut users: Vec<u64> = g.members.iter().map(|m| m.user.id).collect();
        users.push(NEW_USER);
        let mut channels: Vec<u64> = g.channels.iter().map(|c| c.id).collect();
        channels.extend([NEW_CHANNEL, NEW_THREAD]);
        let (a, b) = (
            reads(&victim, g.id, &users, &channels).await,
            reads(&reference, g.id, &users, &channels).await,
        );
        let mut out = Vec::new();
        differences(&a, &b, &format!("guild {}", g.id), &mut out);
        assert!(out.is_empty(), "the caches differ:\n{}", out.join("\n"));
        assert_eq!(a["guild"]["status"], 200, "{}", a["guild"]);
        checked += 1;
    }
    assert_eq!(checked, world.guilds.len());
    // Everything but the memory estimate, which follows the tables' capacities (how the
    // cache grew), not what it holds.
    let counts = |doc: &Value| -> Vec<Value> {
        doc["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let mut c = s["counts"].clone();
                c.as_object_mut().map(|o| o.remove("memory_bytes"));
                c
            })
            .collect()
    };
    let (a, b) = (
        victim.get_json("/v1/cache/switchyard/counts").await.1,
        reference.get_json("/v1/cache/switchyard/counts").await.1,
    );
    assert_eq!(counts(&a), counts(&b), "counts");
    assert!(counts(&a).iter().all(|c| c["messages"].as_u64() > Some(0)));
    // The changes were applied, not just equally missed.
    let g0 = format!("/v1/cache/switchyard/guilds/{}", world.guilds[0].id);
    let (_, member) = victim.get_json(&format!("{g0}/members/{NEW_USER}")).await;
    assert_eq!(member["data"]["nick"], "nick while down");
    let (_, roles) = victim
        .get_json(&format!(
            "/v1/cache/switchyard/guilds/{}/roles",
            world.guilds[1].id
        ))
        .await;
    assert!(
        !roles["data"].to_string().contains("made-before"),
        "{roles}"
    );

    // What the API does not serve yet (presences, voice states, emojis, threads) is in the
    // snapshots: the next one of each shard equals the reference's.
    let bot_ids = [137_000_000_000_000_011_u64, 137_000_000_000_000_022]; // from the tokens
    let finals: BTreeMap<u64, u64> = victim
        .shards()
        .await
        .into_iter()
        .map(|(id, s)| (id, s.1))
        .collect();
    let rfinals: BTreeMap<u64, u64> = reference
        .shards()
        .await
        .into_iter()
        .map(|(id, s)| (id, s.1))
        .collect();
    until("snapshots of the last events", 30, &both, async || {
        (0..SHARDS).all(|s| {
            let at = |run: &Run| run.snapshot(s, SHARDS).and_then(|v| v["seq"].as_u64());
            at(&victim) == finals.get(&u64::from(s)).copied()
                && at(&reference) == rfinals.get(&u64::from(s)).copied()
        })
    })
    .await;
    for s in 0..SHARDS {
        let a = snapshot_lists(&victim.snapshot(s, SHARDS).expect("snapshot"), &bot_ids);
        let b = snapshot_lists(&reference.snapshot(s, SHARDS).expect("snapshot"), &bot_ids);
        let mut out = Vec::new();
        differences(&a, &b, &format!("shard {s}"), &mut out);
        assert!(out.is_empty(), "the snapshots differ:\n{}", out.join("\n"));
        let presences: usize = a
            .as_object()
            .into_iter()
            .flat_map(|o| o.values())
            .filter_map(|g| g["presences"].as_array().map(Vec::len))
            .sum();
        assert!(
            presences > 0,
            "the load's presences are cached on shard {s}"
        );
    }
    println!(
        "load: {produced} events at {EVENTS_PER_S}/s; (shard, snapshot seq, published seq) at the kill: {marks:?}; replayed, not republished: {replays}"
    );
}
