//! The gRPC REST service of `switchyard run` against the fake Discord: typed calls and the
//! general request reach Discord with the bot's token (which the caller never holds), the
//! answers come back as Discord sent them, and Discord's refusals come back typed
//! (validation with its fields, not found with Discord's code); malformed calls are refused
//! with a message and the listener serves on. A Python client generated from the protos
//! with grpcio-tools reads the cache and calls REST.

mod cache_common;
mod grpc_common;

use grpc_common::Bearer;
use serde_json::Value;
use switchyard_api::proto::rest_client::RestClient;
use switchyard_api::proto::{
    ChannelTarget, CreateMessageRequest, EditMessageRequest, InteractionResponseRequest,
    MemberTarget, MessageTarget, ReactionTarget, RestFailure, RestReply, RestRequest, RestResponse,
    rest_failure, rest_reply,
};
use switchyard_sim::{Sim, SimConfig};
use switchyard_testkit::{python_with, run_client};
use tonic::Code;
use tonic::metadata::MetadataValue;

/// Its user id is 137000000000000077.
const BOT: &str = "MTM3MDAwMDAwMDAwMDAwMDc3.GpOoLx.grpcRestHmacPartOfTheToken_9";
const BOT_ID: &str = "137000000000000077";
const GRPC_TOKEN: &str = "grpc-rest-token";

fn ok(reply: RestReply) -> RestResponse {
    match reply.outcome {
        Some(rest_reply::Outcome::Ok(r)) => r,
        other => panic!("Discord did not answer with a success: {other:?}"),
    }
}

fn failed(reply: RestReply) -> rest_failure::Kind {
    match reply.outcome {
        Some(rest_reply::Outcome::Failed(RestFailure { kind: Some(kind) })) => kind,
        other => panic!("not a failure: {other:?}"),
    }
}

fn json(r: &RestResponse) -> Value {
    serde_json::from_slice(&r.body).expect("Discord's JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_calls_over_grpc_reach_discord_and_come_back_typed() {
    let mut config = SimConfig::fast();
    config.shards = 1;
    config.world.guilds = 2;
    let sim = Sim::start(config).await.expect("sim");
    let grpc = grpc_common::start(&sim, "grpc-rest", BOT, GRPC_TOKEN, false).await;
    let (run, channel) = (&grpc.run, grpc.channel.clone());
    let mut rest = RestClient::with_interceptor(channel.clone(), Bearer(GRPC_TOKEN));
    let world = sim.world();
    let guild = &world.guilds[0];
    let text = guild.channels[0].id;

    // The general request: any route, with its query.
    let me = ok(rest
        .request(RestRequest {
            method: "GET".into(),
            path: "/users/@me".into(),
            ..RestRequest::default()
        })
        .await
        .expect("GET /users/@me")
        .into_inner());
    assert_eq!((me.status, json(&me)["id"].as_str()), (200, Some(BOT_ID)));
    assert!(
        me.attempts >= 1 && me.headers.contains_key("content-type"),
        "{me:?}"
    );

    // A message, sent once though the call is made twice with its nonce.
    let send = CreateMessageRequest {
        channel_id: text,
        content: "hello over gRPC".into(),
        nonce: "grpc-rest-1".into(),
        ..CreateMessageRequest::default()
    };
    let sent = ok(rest
        .create_message(send.clone())
        .await
        .expect("CreateMessage")
        .into_inner());
    let message = json(&sent);
    assert_eq!(message["content"], "hello over gRPC");
    assert_eq!(message["author"]["id"], BOT_ID, "{message}");
    let again = ok(rest
        .create_message(send)
        .await
        .expect("CreateMessage")
        .into_inner());
    assert_eq!(json(&again)["id"], message["id"]);
    let held: Vec<Value> = sim.messages(text);
    assert_eq!(
        held.iter()
            .filter(|m| m["content"] == "hello over gRPC")
            .count(),
        1,
        "{held:?}"
    );
    let id: u64 = message["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let target = MessageTarget {
        channel_id: text,
        message_id: id,
    };

    // Edited, reacted to, the reaction taken back.
    let edited = ok(rest
        .edit_message(EditMessageRequest {
            message: Some(target),
            content: Some("edited over gRPC".into()),
            extra_json: String::new(),
        })
        .await
        .expect("EditMessage")
        .into_inner());
    assert_eq!(json(&edited)["content"], "edited over gRPC");
    let reaction = ReactionTarget {
        message: Some(target),
        emoji: "👍".into(),
    };
    let put = ok(rest
        .create_reaction(reaction.clone())
        .await
        .expect("CreateReaction")
        .into_inner());
    assert_eq!((put.status, put.body.len()), (204, 0));
    let held = sim.messages(text);
    let ours = held
        .iter()
        .find(|m| m["id"] == message["id"])
        .expect("held");
    assert_eq!(ours["content"], "edited over gRPC");
    let reacted = ok(rest
        .request(RestRequest {
            method: "GET".into(),
            path: format!("/channels/{text}/messages/{id}/reactions/%F0%9F%91%8D"),
            ..RestRequest::default()
        })
        .await
        .expect("who reacted")
        .into_inner());
    assert_eq!(json(&reacted)[0]["id"], BOT_ID, "{:?}", json(&reacted));
    let taken = ok(rest
        .delete_own_reaction(reaction)
        .await
        .expect("DeleteOwnReaction")
        .into_inner());
    assert_eq!(taken.status, 204);

    // Typed reads.
    let got = ok(rest
        .get_channel(ChannelTarget { channel_id: text })
        .await
        .expect("GetChannel")
        .into_inner());
    assert_eq!(json(&got)["id"], text.to_string());
    let user = guild.members[0].user.id;
    let member = ok(rest
        .get_member(MemberTarget {
            guild_id: guild.id,
            user_id: user,
        })
        .await
        .expect("GetMember")
        .into_inner());
    assert_eq!(json(&member)["user"]["id"], user.to_string());

    // Discord's refusals, typed: a body refused field by field, unknown resources.
    let long = CreateMessageRequest {
        channel_id: text,
        content: "x".repeat(2001),
        ..CreateMessageRequest::default()
    };
    let rest_failure::Kind::Validation(v) = failed(
        rest.create_message(long)
            .await
            .expect("answered")
            .into_inner(),
    ) else {
        panic!("not a validation failure");
    };
    assert_eq!(v.fields.len(), 1, "{v:?}");
    assert_eq!(
        (v.fields[0].path.as_str(), v.fields[0].code.as_str()),
        ("content", "BASE_TYPE_MAX_LENGTH")
    );
    let deleted = ok(rest
        .delete_message(target)
        .await
        .expect("DeleteMessage")
        .into_inner());
    assert_eq!(deleted.status, 204);
    let rest_failure::Kind::NotFound(gone) = failed(
        rest.delete_message(target)
            .await
            .expect("answered")
            .into_inner(),
    ) else {
        panic!("a deleted message is not found");
    };
    assert_eq!(
        (gone.code, gone.message.as_str()),
        (10008, "Unknown Message")
    );
    let unknown = InteractionResponseRequest {
        interaction_id: 4_242_424_242,
        interaction_token: "aW50ZXJhY3Rpb24".into(),
        response_json: r#"{"type":4,"data":{"content":"late"}}"#.into(),
    };
    let rest_failure::Kind::NotFound(nf) = failed(
        rest.create_interaction_response(unknown)
            .await
            .expect("answered")
            .into_inner(),
    ) else {
        panic!("an unknown interaction is not found");
    };
    assert_eq!(nf.code, 10062);

    // Malformed calls are refused with what is wrong, counted, and the listener serves on.
    let bad = rest
        .request(RestRequest {
            method: "GET".into(),
            path: "users/@me".into(),
            ..RestRequest::default()
        })
        .await
        .expect_err("a path without its /");
    assert_eq!(bad.code(), Code::InvalidArgument, "{bad:?}");
    assert!(bad.message().contains("must start with /"), "{bad:?}");
    let no_channel = rest
        .create_message(CreateMessageRequest::default())
        .await
        .expect_err("no channel");
    assert_eq!(no_channel.message(), "channel_id is required");
    let mut other_bot = tonic::Request::new(ChannelTarget { channel_id: text });
    other_bot
        .metadata_mut()
        .insert("x-switchyard-bot", MetadataValue::from_static("nobody"));
    let nobody = rest.get_channel(other_bot).await.expect_err("no such bot");
    assert_eq!(nobody.code(), Code::NotFound, "{nobody:?}");
    let bad_requests = run
        .metric("switchyard_grpc_bad_requests_total", &[("service", "rest")])
        .await;
    assert_eq!(bad_requests, Some(2.0), "{}", run.output());
    let still = ok(rest
        .get_channel(ChannelTarget { channel_id: text })
        .await
        .expect("serves on")
        .into_inner());
    assert_eq!(still.status, 200);

    // Without the listener's token, nothing is sent.
    let refused = RestClient::new(channel)
        .get_channel(ChannelTarget { channel_id: text })
        .await
        .expect_err("no token");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        !run.output().contains("grpcRestHmacPartOfTheToken_9"),
        "the token was logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_client_generated_from_the_protos_reads_the_cache_and_calls_rest() {
    let python = python_with(&["grpc", "grpc_tools"]);
    let mut config = SimConfig::fast();
    config.shards = 1;
    config.world.guilds = 1;
    let sim = Sim::start(config).await.expect("sim");
    let grpc = grpc_common::start(&sim, "grpc-python", BOT, GRPC_TOKEN, true).await;
    let guild = &sim.world().guilds[0];
    let text = guild.channels[0].id;
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let args: Vec<String> = [
        manifest
            .join("tests/python/grpc_client.py")
            .display()
            .to_string(),
        manifest
            .join("../switchyard-api/proto")
            .display()
            .to_string(),
        grpc.addr.clone(),
        GRPC_TOKEN.to_owned(),
        guild.id.to_string(),
        guild.members[0].user.id.to_string(),
        text.to_string(),
    ]
    .into();
    run_client("Python gRPC", &python, &args, || grpc.run.output()).await;
    let held = sim.messages(text);
    assert!(
        held.iter()
            .any(|m| m["content"] == "hello from Python over gRPC" && m["author"]["id"] == BOT_ID),
        "{held:?}"
    );
}
