//! The face with real, unmodified clients, through `switchyard run` with `[face]` enabled, in
//! front of the fake Discord (two upstream shards, which accepts only the bot's real token):
//!
//! - discord.py (tests/python/face_discord_py.py), over zstd-stream and zlib-stream: it logs
//!   in with the face's token, holds every guild, chunks a guild and looks a member up by id
//!   (op 8), answers a user's message through the face's REST (which the fake receives with
//!   the real token), and, dropping its connection while the fake sends messages at a
//!   steady rate, RESUMEs and sees every one of them exactly once;
//! - twilight-gateway and twilight-http: READY and every guild, a user's message, a message
//!   sent through the face, a member request answered with its chunk, and a RESUME after
//!   twilight closes its connection, with what came meanwhile replayed;
//! - twilight clients with virtual shard counts other than the upstream's: each sees exactly
//!   the guilds Discord would put on its shard;
//! - hikari and discord.js, running the fake's own client scripts unchanged against the face
//!   (log in, presence, members, REST reads, a message sent, edited and deleted with its
//!   events seen).
//!
//! Needs `python3` with `discord.py`, `zstandard` and `hikari` (the repo's `.venv`, or
//! `SWITCHYARD_PYTHON`), and `node` with discord.js in `.ci/npm`; the tests fail with a clear
//! message when these are missing.

mod cache_common;
mod face_clients;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use face_clients::{BOT, Face};
use switchyard_sim::{Inject, Snowflake};
use switchyard_testkit::{python, run_client};
use twilight_gateway::{
    CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_model::gateway::payload::outgoing::RequestGuildMembers;
use twilight_model::id::Id;

/// Messages the fake sends while discord.py drops and resumes its connection.
const STREAMED: usize = 60;

/// The ids after `prefix` on the line of stdout that starts with it.
fn ids(stdout: &str, prefix: &str) -> Vec<u64> {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in\n{stdout}"))
        .split_whitespace()
        .map(|id| id.parse().expect("an id"))
        .collect()
}

async fn discord_py(mode: &str) {
    let face = Face::start(4).await;
    let world = face.sim.world();
    let channel = face.text_channel(0);
    let guild = &world.guilds[0];
    let member = guild.members[0].user.id;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/face_discord_py.py");
    let port = |addr: &str| addr.rsplit(':').next().expect("port").to_owned();
    let py = python();
    let child = tokio::process::Command::new(&py)
        .arg(&script)
        .args([
            port(&face.addr),
            face.sim.addr().port().to_string(),
            face.token.clone(),
            channel.to_string(),
            member.to_string(),
            world.guilds.len().to_string(),
            STREAMED.to_string(),
            mode.to_owned(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): install Python 3 with discord.py and zstandard",
                py.display()
            )
        });
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("the discord.py run finished in time")
        .expect("the discord.py run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(3),
        "discord.py or zstandard is missing for {}: pip install discord.py zstandard\n{stderr}",
        py.display()
    );
    let context = format!(
        "({mode})\nstdout:\n{stdout}\nstderr:\n{stderr}\nswitchyard:\n{}",
        face.run.output()
    );
    assert!(out.status.success(), "the discord.py bot failed {context}");

    // every guild, chunked from the cache, the member found by id
    let members = guild.members.len() + 1;
    assert!(
        stdout.contains(&format!("READY as {BOT} in {} guilds", world.guilds.len())),
        "{context}"
    );
    assert!(
        stdout.contains(&format!("CHUNKED {members} of {members}")),
        "{context}"
    );
    assert_eq!(ids(&stdout, "QUERIED "), [member], "{context}");

    // the reply reached the fake with the bot's real token (it refuses any other)
    let pong = ids(&stdout, "SENT_PONG ")[0];
    let posts = face.posts(channel);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        (posts[0].status, posts[0].bot_id.as_deref()),
        (200, Some(BOT.to_string().as_str())),
        "{posts:?}"
    );
    assert!(posts[0].body.contains("pong"), "{posts:?}");
    assert!(stdout.contains("SAW_OWN_PONG"), "{context}");
    assert!(
        world
            .guilds
            .iter()
            .all(|g| g.channels.iter().all(|c| c.id != pong)),
        "the pong has an id of its own"
    );

    // the drop: RESUMED, and every message the fake sent seen exactly once
    assert!(stdout.contains("DROPPING"), "{context}");
    assert!(
        stderr.contains("has successfully RESUMED session"),
        "{context}"
    );
    assert!(stdout.contains("RESUMED_EVENT"), "{context}");
    let sent = ids(&stdout, "SENT ");
    let saw = ids(&stdout, "SAW ");
    assert_eq!(sent.len(), STREAMED + 5, "{context}");
    let gap = ids(&stdout, "GAP ");
    assert!(gap.iter().all(|id| sent.contains(id)), "{context}");
    let mut seen = BTreeMap::<u64, usize>::new();
    for id in &saw {
        *seen.entry(*id).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "seen more than once: {twice:?} {context}");
    let missed: Vec<_> = sent.iter().filter(|id| !seen.contains_key(id)).collect();
    assert!(missed.is_empty(), "missed: {missed:?} {context}");
    assert_eq!(saw.len(), sent.len(), "{context}");
    assert_eq!(
        face.metric("switchyard_face_resumes_total", &[("outcome", "resumed")])
            .await,
        1.0,
        "{context}"
    );
    assert_eq!(
        face.metric("switchyard_face_identifies_total", &[]).await,
        1.0,
        "one IDENTIFY: the drop was resumed"
    );
    assert!(
        face.metric(
            "switchyard_face_member_requests_total",
            &[("answered", "cache")]
        )
        .await
            >= 2.0,
        "chunk and query answered from the cache"
    );
    // transport compression between discord.py and the face is what discord.py chose
    // (checked by the script); the fake saw only switchyard's own two shards identify
    assert_eq!(face.sim.counters().identifies, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_py_through_the_face_over_zstd_stream() {
    discord_py("zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_py_through_the_face_over_zlib_stream() {
    discord_py("zlib").await;
}

/// A twilight shard `[id, total]` identified with the face's token.
fn shard(face: &Face, id: u32, total: u32) -> Shard {
    let intents = Intents::GUILDS
        | Intents::GUILD_MESSAGES
        | Intents::MESSAGE_CONTENT
        | Intents::GUILD_MEMBERS;
    let config = ConfigBuilder::new(face.token.clone(), intents)
        .proxy_url(format!("ws://{}", face.addr))
        .build();
    Shard::with_config(ShardId::new(id, total), config)
}

async fn next(face: &Face, shard: &mut Shard) -> Event {
    let event = tokio::time::timeout(
        Duration::from_secs(30),
        shard.next_event(EventTypeFlags::all()),
    )
    .await;
    match event {
        Ok(Some(Ok(event))) => event,
        other => panic!(
            "shard {}: no event ({other:?})\n{}",
            shard.id(),
            face.run.output()
        ),
    }
}

/// READY and its guilds' GUILD_CREATEs: the guild ids.
async fn guilds(face: &Face, shard: &mut Shard) -> BTreeSet<u64> {
    let mut want = None;
    let mut got = BTreeSet::new();
    while want.as_ref() != Some(&got) {
        match next(face, shard).await {
            Event::Ready(r) => {
                assert_eq!(r.user.id.get(), BOT);
                assert_eq!(
                    r.shard.map(|s| [s.number(), s.total()]),
                    Some([shard.id().number(), shard.id().total()])
                );
                assert!(r.guilds.iter().all(|g| g.unavailable));
                want = Some(r.guilds.iter().map(|g| g.id.get()).collect());
            }
            Event::GuildCreate(g) => {
                assert!(got.insert(g.id().get()), "GUILD_CREATE twice: {}", g.id());
                assert!(
                    matches!(
                        &*g,
                        twilight_model::gateway::payload::incoming::GuildCreate::Available(_)
                    ),
                    "{g:?}"
                );
            }
            _ => {}
        }
    }
    got
}

async fn message(face: &Face, shard: &mut Shard) -> twilight_model::channel::Message {
    loop {
        if let Event::MessageCreate(m) = next(face, shard).await {
            return m.message;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilight_through_the_face() {
    let face = Face::start(4).await;
    let http = twilight_http::Client::builder()
        .token(face.token.clone())
        .proxy(face.addr.clone(), true)
        .build();
    let info = http
        .gateway()
        .authed()
        .await
        .expect("/gateway/bot")
        .model()
        .await
        .expect("its model");
    assert_eq!(info.shards, face_clients::UPSTREAM_SHARDS);
    assert_eq!(info.url, format!("ws://{}", face.addr));

    let mut shard = shard(&face, 0, 1);
    let world = face.sim.world();
    let every: BTreeSet<u64> = world.guilds.iter().map(|g| g.id).collect();
    assert_eq!(guilds(&face, &mut shard).await, every);

    // a user's message, as the fake creates it
    let channel = face.text_channel(0);
    let injected = face
        .sim
        .inject(&Inject::Message {
            channel_id: Snowflake(channel),
            content: "hello twilight".into(),
            author_id: None,
        })
        .expect("inject");
    let got = message(&face, &mut shard).await;
    assert_eq!(got.id.to_string(), injected["id"].as_str().expect("id"));
    assert_eq!(got.content, "hello twilight", "MESSAGE_CONTENT granted");

    // a message sent through the face's REST: the fake got it with the real token
    let sent = http
        .create_message(Id::new(channel))
        .content("hello from twilight")
        .await
        .expect("create message through the face")
        .model()
        .await
        .expect("its model");
    let posts = face.posts(channel);
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(
        (posts[0].status, posts[0].bot_id.as_deref()),
        (200, Some(BOT.to_string().as_str()))
    );
    let echo = message(&face, &mut shard).await;
    assert_eq!((echo.id, echo.author.id.get()), (sent.id, BOT));

    // op 8: the whole member list, in one chunk with the nonce
    let guild = &world.guilds[0];
    let request = RequestGuildMembers::builder(Id::new(guild.id))
        .nonce("twilight-chunk")
        .query("", None);
    shard.command(&request);
    let chunk = loop {
        if let Event::MemberChunk(c) = next(&face, &mut shard).await {
            break c;
        }
    };
    assert_eq!(chunk.guild_id.get(), guild.id);
    assert_eq!(chunk.nonce.as_deref(), Some("twilight-chunk"));
    assert_eq!((chunk.chunk_index, chunk.chunk_count), (0, 1));
    let mut members: Vec<u64> = chunk.members.iter().map(|m| m.user.id.get()).collect();
    members.sort_unstable();
    let mut want: Vec<u64> = guild.members.iter().map(|m| m.user.id).collect();
    want.push(BOT);
    want.sort_unstable();
    assert_eq!(members, want);

    // twilight closes its connection to resume (4000) while the fake sends messages: each
    // arrives once, in order, whichever connection carries it
    let session = shard.session().expect("a session").id().to_owned();
    shard.close(CloseFrame::RESUME);
    let gap: Vec<String> = (0..3)
        .map(|i| {
            let m = face.sim.inject(&Inject::Message {
                channel_id: Snowflake(channel),
                content: format!("gap {i}"),
                author_id: None,
            });
            m.expect("inject")["id"].as_str().expect("id").to_owned()
        })
        .collect();
    let (mut got, mut resumed) = (Vec::new(), false);
    while !resumed || got.len() < gap.len() {
        match next(&face, &mut shard).await {
            Event::MessageCreate(m) => got.push(m.id.to_string()),
            Event::Resumed => resumed = true,
            Event::Ready(_) => panic!("twilight identified again instead of resuming"),
            _ => {}
        }
    }
    assert_eq!(got, gap, "each message once, in order");
    assert_eq!(shard.session().expect("a session").id(), session);
    assert_eq!(
        face.metric("switchyard_face_resumes_total", &[("outcome", "resumed")])
            .await,
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_other_shard_counts_see_their_shards_guilds() {
    let face = Face::start(12).await;
    let world = face.sim.world();
    let mut clients = Vec::new();
    for [id, total] in [[0, 1], [0, 2], [1, 2], [1, 3]] {
        let want: BTreeSet<u64> = world
            .guilds
            .iter()
            .map(|g| g.id)
            .filter(|g| (g >> 22) % u64::from(total) == u64::from(id))
            .collect();
        assert!(
            !want.is_empty(),
            "the world puts a guild on [{id}, {total}]"
        );
        let mut client = shard(&face, id, total);
        assert_eq!(guilds(&face, &mut client).await, want, "[{id}, {total}]");
        clients.push((client, want));
    }
    // a user's message in every guild: each client gets those of its own guilds only
    for i in 0..world.guilds.len() {
        let channel = face.text_channel(i);
        face.sim
            .inject(&Inject::Message {
                channel_id: Snowflake(channel),
                content: format!("in guild {i}"),
                author_id: None,
            })
            .expect("inject");
    }
    for (client, want) in &mut clients {
        let mut got = BTreeSet::new();
        while &got != want {
            let m = message(&face, client).await;
            let guild = m.guild_id.expect("a guild message").get();
            assert!(want.contains(&guild), "{}: {guild}", client.id());
            assert!(got.insert(guild), "{}: twice from {guild}", client.id());
        }
    }
}

/// The fake's own client scripts, at `crates/switchyard-sim/tests/{rest}`.
fn sim_script(rest: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../switchyard-sim/tests")
        .join(rest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hikari_through_the_face() {
    let face = Face::start(4).await;
    let port = face.addr.rsplit(':').next().expect("port").to_owned();
    let args = [
        sim_script("python/hikari_bot.py").display().to_string(),
        port,
        face.text_channel(0).to_string(),
        face.token.clone(),
    ];
    let python = switchyard_testkit::python_with(&["hikari"]);
    run_client("hikari", &python, &args, || face.run.output()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_js_through_the_face() {
    let node = switchyard_testkit::node_with(&["discord.js"]);
    let face = Face::start(4).await;
    let port = face.addr.rsplit(':').next().expect("port").to_owned();
    let args = [
        sim_script("js/discord_js_bot.js").display().to_string(),
        port,
        face.token.clone(),
    ];
    run_client("discord.js", &node, &args, || face.run.output()).await;
}
