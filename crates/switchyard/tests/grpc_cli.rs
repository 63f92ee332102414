//! The gRPC listener of `switchyard run` (Control and Cache services) against the fake
//! Discord, called by tonic's client as any generated client would: a token it requires,
//! the bot and its shards, cache reads as Discord's JSON with Discord's misses, several
//! reads in one call, malformed requests refused without harm, SHUTDOWN reaching a
//! service's control topic, and server reflection naming the services.

mod cache_common;
mod grpc_common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cache_common::until;
use grpc_common::Bearer;
use serde_json::Value;
use switchyard_api::proto::cache_client::CacheClient;
use switchyard_api::proto::control_client::ControlClient;
use switchyard_api::proto::{
    self, ListBotsRequest, ListServicesRequest, ReadManyRequest, ReadRequest, ServiceCommand,
    read_request::Query, read_result,
};
use switchyard_sim::{Guild, Sim, SimConfig};
use tonic::Code;
use tonic::transport::Channel;

const SHARDS: u32 = 2;
/// Its user id is 137000000000000055.
const BOT: &str = "MTM3MDAwMDAwMDAwMDAwMDU1.GpOoLx.grpcListenerHmacPartOfIt_1";
const GRPC_TOKEN: &str = "grpc-test-token";

fn read(query: Query) -> ReadRequest {
    ReadRequest { query: Some(query) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_cache_answer_over_grpc_behind_a_token() {
    let mut config = SimConfig::fast();
    config.shards = SHARDS;
    config.world.guilds = 4;
    let sim = Sim::start(config).await.expect("sim");
    let grpc = grpc_common::start(&sim, "grpc", BOT, GRPC_TOKEN, true).await;
    let (run, channel) = (&grpc.run, grpc.channel.clone());
    until("both shards active", 60, &[run], async || {
        run.active(2).await
    })
    .await;

    // Without the token, or with another: UNAUTHENTICATED, and the listener serves on.
    let refused = ControlClient::new(channel.clone())
        .list_bots(ListBotsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    let wrong = ControlClient::with_interceptor(channel.clone(), Bearer("not-it"))
        .list_bots(ListBotsRequest::default())
        .await
        .expect_err("a wrong token");
    assert_eq!(wrong.code(), Code::Unauthenticated, "{wrong:?}");

    // The bot and its shards, as /status has them.
    let mut control = ControlClient::with_interceptor(channel.clone(), Bearer(GRPC_TOKEN));
    let bots = control
        .list_bots(ListBotsRequest::default())
        .await
        .expect("ListBots")
        .into_inner()
        .bots;
    assert_eq!(bots.len(), 1, "{bots:?}");
    let bot = &bots[0];
    assert_eq!((bot.total, bot.shards.len()), (SHARDS, 2), "{bot:?}");
    for (i, shard) in bot.shards.iter().enumerate() {
        assert_eq!(shard.id, i as u32, "{bot:?}");
        assert_eq!(shard.total, SHARDS);
        assert_eq!(shard.state(), proto::ShardState::Active, "{bot:?}");
        assert!(!shard.session.is_empty() && shard.seq >= 1, "{shard:?}");
    }

    // Server reflection, for generic tools (grpcurl, Postman…): every service listed.
    let services = reflected_services(channel.clone()).await;
    for wanted in [
        "switchyard.v1.Cache",
        "switchyard.v1.Control",
        "switchyard.v1.Rest",
    ] {
        assert!(services.iter().any(|s| s == wanted), "{services:?}");
    }

    // Cache reads: the fake's world, as Discord's JSON, from the guild's shard.
    let mut cache = CacheClient::with_interceptor(channel.clone(), Bearer(GRPC_TOKEN));
    let world = sim.world();
    let guild = &world.guilds[1];
    let member = guild.members[0].user.id;
    let ask_guild = read(Query::Guild(proto::GuildRef { guild: guild.id }));
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match cache.read(ask_guild.clone()).await {
                Ok(reply) => return reply.into_inner(),
                Err(s) if s.code() == Code::Unavailable => {}
                Err(s) => panic!("reading the guild: {s:?}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the guild's shard cache ready in 60 s");
    let doc: Value = serde_json::from_str(&found.json).expect("JSON");
    assert_eq!(doc["id"], guild.id.to_string());
    assert_eq!(doc["name"], guild.name);
    assert_eq!(found.shard, Guild::shard(guild.id, SHARDS));
    assert!(found.seq.is_some(), "{found:?}");
    let got = cache
        .read(read(Query::Member(proto::MemberRef {
            guild: guild.id,
            user: member,
        })))
        .await
        .expect("a member")
        .into_inner();
    let doc: Value = serde_json::from_str(&got.json).expect("JSON");
    assert_eq!(doc["user"]["id"], member.to_string(), "{doc}");

    // A miss is Discord's: NOT_FOUND, "Unknown Member", its code in the metadata.
    let nobody = 424_242_424_242_424_242;
    let miss = cache
        .read(read(Query::Member(proto::MemberRef {
            guild: guild.id,
            user: nobody,
        })))
        .await
        .expect_err("an unknown member");
    assert_eq!(miss.code(), Code::NotFound, "{miss:?}");
    assert_eq!(miss.message(), "Unknown Member");
    assert_eq!(
        miss.metadata()
            .get("x-switchyard-discord-code")
            .and_then(|v| v.to_str().ok()),
        Some("10007"),
        "{miss:?}"
    );

    // Several reads in one call: each answered, the miss among them too.
    let many = cache
        .read_many(ReadManyRequest {
            reads: vec![
                read(Query::Roles(proto::GuildRef { guild: guild.id })),
                read(Query::Member(proto::MemberRef {
                    guild: guild.id,
                    user: nobody,
                })),
                read(Query::User(proto::UserRef { user: member })),
            ],
        })
        .await
        .expect("ReadMany")
        .into_inner()
        .results;
    assert_eq!(many.len(), 3, "{many:?}");
    match &many[0].result {
        Some(read_result::Result::Found(r)) => {
            let roles: Value = serde_json::from_str(&r.json).expect("JSON");
            assert_eq!(
                roles.as_array().map(Vec::len),
                Some(guild.roles.len()),
                "{roles}"
            );
        }
        other => panic!("the roles: {other:?}"),
    }
    match &many[1].result {
        Some(read_result::Result::Miss(m)) => {
            assert_eq!(m.kind(), proto::MissKind::Unknown);
            assert_eq!(
                (m.message.as_str(), m.discord_code),
                ("Unknown Member", 10007)
            );
        }
        other => panic!("the unknown member: {other:?}"),
    }
    assert!(
        matches!(&many[2].result, Some(read_result::Result::Found(u)) if u.json.contains(&member.to_string())),
        "the user: {:?}",
        many[2]
    );

    // Malformed requests: a clear status each, and the listener serves on.
    let empty = cache
        .read(ReadRequest { query: None })
        .await
        .expect_err("no query");
    assert_eq!(empty.code(), Code::InvalidArgument, "{empty:?}");
    assert!(empty.message().contains("one query"), "{empty:?}");
    let mut other_bot =
        tonic::Request::new(read(Query::Guild(proto::GuildRef { guild: guild.id })));
    other_bot
        .metadata_mut()
        .insert("x-switchyard-bot", "nobot".parse().expect("ASCII"));
    let unknown = cache.read(other_bot).await.expect_err("an unknown bot");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("nobot"), "{unknown:?}");
    let nameless = control
        .shutdown(ServiceCommand::default())
        .await
        .expect_err("no service name");
    assert_eq!(nameless.code(), Code::InvalidArgument, "{nameless:?}");
    let counts = cache
        .counts(proto::CountsRequest {})
        .await
        .expect("Counts after the refusals")
        .into_inner();
    assert!(counts.json.contains("members"), "{counts:?}");

    // A service that identified is listed, and SHUTDOWN reaches its control topic.
    let broker = format!("redis://127.0.0.1:{}", run.resp);
    let hello = r#"{"s":"py/1","t":"IDENTIFY","d":{"opcode":0,"name":"pybot","instance":"py-1","version":"0.3","envelope_version":1}}"#;
    let out = switchyard(&["publish", "control.gateway", hello, "--broker", &broker]);
    assert!(out.status.success(), "{out:?}");
    let listed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let services = control
                .list_services(ListServicesRequest {})
                .await
                .expect("ListServices")
                .into_inner()
                .services;
            if !services.is_empty() {
                return services;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("pybot listed within 30 s");
    assert_eq!(
        (
            listed[0].name.as_str(),
            listed[0].instance.as_str(),
            listed[0].version.as_str()
        ),
        ("pybot", "py-1", "0.3")
    );
    let mut tail = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args([
            "tail",
            "control.pybot",
            "--json",
            "-n",
            "1",
            "--broker",
            &broker,
        ])
        .env_remove("SWITCHYARD_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("tail starts");
    // The tail subscribes at its own pace: send until it has printed the message.
    let deadline = Instant::now() + Duration::from_secs(20);
    while tail.try_wait().expect("tail").is_none() {
        control
            .shutdown(ServiceCommand {
                name: "pybot".into(),
                instance: "py-1".into(),
                reason: "deploy".into(),
            })
            .await
            .expect("Shutdown");
        if Instant::now() > deadline {
            let _ = tail.kill();
            panic!("the tail never saw SHUTDOWN");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = tail.wait_with_output().expect("tail output");
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("SHUTDOWN") && printed.contains("py-1") && printed.contains("deploy"),
        "{printed}"
    );
    let after = control
        .list_services(ListServicesRequest {})
        .await
        .expect("ListServices")
        .into_inner()
        .services;
    assert!(
        after.is_empty(),
        "a service told to shut down is forgotten: {after:?}"
    );
}

/// The services server reflection lists (with the token).
async fn reflected_services(channel: Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let ask = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut client = ServerReflectionClient::with_interceptor(channel, Bearer(GRPC_TOKEN));
    let mut answers = client
        .server_reflection_info(futures_util::stream::iter([ask]))
        .await
        .expect("reflection")
        .into_inner();
    let answer = answers.message().await.expect("an answer").expect("one");
    match answer.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("reflection answered {other:?}"),
    }
}

fn switchyard(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs")
}
