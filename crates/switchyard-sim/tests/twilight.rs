//! Proof with a real third-party client: twilight-gateway and twilight-http 0.18, pointed at
//! the sim exactly as the protocol notes describe (proxy_url / proxy host:port).

mod common;

use std::time::Duration;

use common::{TOKEN, first_text_channel, sim};
use switchyard_sim::{Fault, Inject, SimConfig, SimHandle, Snowflake};
use twilight_gateway::{
    ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
};
use twilight_model::id::Id;

fn http(sim: &SimHandle, limiter: bool) -> twilight_http::Client {
    let mut b = twilight_http::Client::builder()
        .token(TOKEN.to_owned())
        .proxy(sim.addr().to_string(), true);
    if !limiter {
        b = b.ratelimiter(None);
    }
    b.build()
}

async fn shard(sim: &SimHandle) -> Shard {
    let http = http(sim, true);
    let info = http
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("model");
    assert_eq!(info.url, sim.gateway_url());
    let intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT;
    let config = ConfigBuilder::new(TOKEN.to_owned(), intents)
        .proxy_url(info.url)
        .build();
    Shard::with_config(ShardId::new(0, info.shards), config)
}

async fn next(shard: &mut Shard) -> Event {
    tokio::time::timeout(
        Duration::from_secs(10),
        shard.next_event(EventTypeFlags::all()),
    )
    .await
    .expect("event in time")
    .expect("stream open")
    .expect("event decodes")
}

async fn message(shard: &mut Shard) -> twilight_model::channel::Message {
    loop {
        if let Event::MessageCreate(m) = next(shard).await {
            return m.message;
        }
    }
}

async fn ready(sim: &SimHandle, shard: &mut Shard) {
    let mut guilds = 0;
    while guilds < sim.world().guilds.len() {
        match next(shard).await {
            Event::Ready(r) => assert_eq!(r.guilds.len(), sim.world().guilds.len()),
            Event::GuildCreate(g) => {
                assert!(sim.world().guild(g.id().get()).is_some());
                guilds += 1;
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn twilight_identifies_receives_and_resumes_after_a_drop_with_nothing_missed() {
    let sim = sim(SimConfig::fast()).await;
    let mut shard = shard(&sim).await;
    ready(&sim, &mut shard).await;
    let ch = first_text_channel(&sim, 0);
    let say = |text: String| {
        sim.inject(&Inject::Message {
            channel_id: Snowflake(ch),
            content: text,
            author_id: None,
        })
        .expect("inject")
    };
    for i in 0..3 {
        say(format!("before {i}"));
        assert_eq!(message(&mut shard).await.content, format!("before {i}"));
    }
    let session = shard.session().expect("session").id().to_owned();
    assert_eq!(
        sim.fault(&Fault::Drop {
            session_id: Some(session.clone())
        })
        .expect("drop"),
        1
    );
    // wait until the sim has seen the connection go, then produce events for the gap
    for _ in 0..100 {
        if !sim.counters().session(&session).expect("s").connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for i in 0..5 {
        say(format!("during {i}"));
    }
    let mut got = Vec::new();
    let mut resumed = false;
    while got.len() < 5 {
        match next(&mut shard).await {
            Event::MessageCreate(m) => got.push(m.message.content),
            Event::Resumed => resumed = true,
            Event::Ready(_) => panic!("twilight re-identified instead of resuming"),
            _ => {}
        }
    }
    while !resumed {
        resumed = matches!(next(&mut shard).await, Event::Resumed);
    }
    assert_eq!(
        got,
        (0..5).map(|i| format!("during {i}")).collect::<Vec<_>>()
    );
    let counters = sim.counters();
    let s = counters.session(&session).expect("session");
    assert_eq!(s.resumes, 1);
    assert_eq!(s.buffered_while_disconnected, 5);
    assert_eq!(
        shard.session().expect("session").id(),
        session,
        "same session after resume"
    );
    assert_eq!(
        shard.session().expect("session").sequence(),
        s.last_seq,
        "client saw every seq assigned"
    );
    assert_eq!(counters.sessions.len(), 1, "no second session was started");
}

#[tokio::test]
async fn twilight_http_creates_a_message_and_the_shard_receives_it() {
    let sim = sim(SimConfig::fast()).await;
    let mut shard = shard(&sim).await;
    ready(&sim, &mut shard).await;
    let http = http(&sim, true);
    let me = http
        .current_user()
        .await
        .expect("me")
        .model()
        .await
        .expect("user");
    let ch = first_text_channel(&sim, 2);
    let sent = http
        .create_message(Id::new(ch))
        .content("hello from twilight")
        .await
        .expect("create")
        .model()
        .await
        .expect("message");
    assert_eq!(sent.author.id, me.id);
    let seen = message(&mut shard).await;
    assert_eq!(
        (seen.id, seen.content.as_str()),
        (sent.id, "hello from twilight")
    );
    assert_eq!(
        seen.guild_id.map(|g| g.get()),
        Some(sim.world().guilds[2].id)
    );
    let calls = sim.counters().rest_calls;
    assert!(calls.iter().any(|c| c.method == "POST"
        && c.path == format!("/api/v10/channels/{ch}/messages")
        && c.body.contains("hello from twilight")));
}

#[tokio::test]
async fn twilight_http_is_rate_limited_and_recovers() {
    let mut cfg = SimConfig::fast();
    cfg.rate_limits.message_create.window_ms = 1_000;
    let sim = sim(cfg).await;
    let ch = Id::new(first_text_channel(&sim, 0));
    let http = http(&sim, true);
    // Three forced 429s: twilight retries after each, waiting as the headers say, and the
    // request finally goes through.
    sim.fault(&Fault::RateLimit {
        count: 3,
        global: false,
        retry_after_ms: 100,
        scope: None,
    })
    .expect("fault");
    let start = std::time::Instant::now();
    let m = http
        .create_message(ch)
        .content("eventually")
        .await
        .expect("recovers")
        .model()
        .await
        .expect("message");
    assert_eq!(m.content, "eventually");
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "waited out the retry_after: {:?}",
        start.elapsed()
    );
    let c = sim.counters();
    assert_eq!(c.rest.rate_limited_route, 3);
    let statuses: Vec<u16> = c.rest_calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses, vec![429, 429, 429, 200]);
    // A burst over the real limit (5 per window) is paced by twilight's limiter from the
    // sim's headers: no further 429s, and it takes at least one more window. (Another
    // channel, so that twilight's timers from the forced 429s above do not interfere.)
    let other = Id::new(first_text_channel(&sim, 1));
    let start = std::time::Instant::now();
    for i in 0..8 {
        http.create_message(other)
            .content(&format!("p{i}"))
            .await
            .expect("paced");
    }
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "the burst was spread over windows"
    );
    assert_eq!(
        sim.counters().rest.rate_limited_route,
        3,
        "the limiter obeyed the headers"
    );
}

#[tokio::test]
async fn twilight_detects_a_zombie_when_acks_stop_and_resumes() {
    let sim = sim(SimConfig::fast()).await;
    let mut shard = shard(&sim).await;
    ready(&sim, &mut shard).await;
    let session = shard.session().expect("session").id().to_owned();
    // only this connection stops ACKing; twilight must notice and reconnect by itself
    assert_eq!(
        sim.fault(&Fault::StopAck {
            stop: true,
            session_id: Some(session.clone())
        })
        .expect("fault"),
        1
    );
    let mut resumed = false;
    while !resumed {
        match next(&mut shard).await {
            Event::Resumed => resumed = true,
            Event::Ready(_) => panic!("twilight re-identified instead of resuming"),
            _ => {}
        }
    }
    let ch = first_text_channel(&sim, 1);
    sim.inject(&Inject::Message {
        channel_id: Snowflake(ch),
        content: "alive".into(),
        author_id: None,
    })
    .expect("inject");
    assert_eq!(message(&mut shard).await.content, "alive");
    let counters = sim.counters();
    let s = counters.session(&session).expect("session");
    assert_eq!(s.resumes, 1);
    assert!(counters.connections >= 2);
}

#[tokio::test]
async fn twilight_commands_are_accepted_answered_and_recorded() {
    use twilight_model::gateway::payload::outgoing::{
        RequestGuildMembers, UpdatePresence, UpdateVoiceState,
    };
    use twilight_model::gateway::presence::{ActivityType, MinimalActivity, Status};

    let sim = sim(SimConfig::fast()).await;
    let mut shard = shard(&sim).await;
    ready(&sim, &mut shard).await;
    let g = &sim.world().guilds[0];
    let voice = g
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .expect("voice channel");
    let activity = MinimalActivity {
        kind: ActivityType::Playing,
        name: "tests".into(),
        url: None,
    };
    let presence =
        UpdatePresence::new(vec![activity.into()], false, None, Status::Idle).expect("presence");
    shard.command(&presence);
    let prefix = g.members[0].user.username[..2].to_owned();
    shard.command(
        &RequestGuildMembers::builder(Id::new(g.id))
            .nonce("tw-query")
            .query(prefix, Some(5)),
    );
    shard.command(
        &RequestGuildMembers::builder(Id::new(g.id))
            .nonce("tw-ids")
            .user_id(Id::new(g.members[1].user.id)),
    );
    shard.command(&UpdateVoiceState::new(
        Id::new(g.id),
        Some(Id::new(voice.id)),
        false,
        true,
    ));
    let mut nonces = Vec::new();
    let mut voice_server = false;
    while nonces.len() < 2 || !voice_server {
        match next(&mut shard).await {
            Event::MemberChunk(c) => nonces.push(c.nonce.unwrap_or_default()),
            Event::VoiceServerUpdate(v) => {
                assert_eq!(v.guild_id.get(), g.id);
                voice_server = true;
            }
            _ => {}
        }
    }
    assert_eq!(nonces, ["tw-query", "tw-ids"]);
    let counters = sim.counters();
    let s = counters
        .sessions
        .iter()
        .find(|s| s.connected)
        .expect("twilight's session is still connected");
    let ops: Vec<u8> = s.commands.iter().map(|c| c.op).collect();
    assert_eq!(ops, [3, 8, 8, 4]);
    assert_eq!(s.presence["status"], "idle");
    assert_eq!(s.commands[1].d["nonce"], "tw-query");
}
