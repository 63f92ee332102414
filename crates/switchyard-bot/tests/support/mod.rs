//! Helpers for the SDK's integration tests: Discord-shaped payloads in real envelopes
//! (encoded by switchyard-core), an embedded broker, and waiting for outbound messages.
#![allow(dead_code, missing_docs)]

pub mod gateway;
pub mod process;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchyard_bot::{Bot, ServeError, ServeOptions, Shutdown, serve};
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::{Broker, Message, Pattern, Subscription, Topic};
use switchyard_core::envelope::{Source, encode_into};
use switchyard_core::parse_dispatch;
use tokio::task::JoinHandle;

pub const WAIT: Duration = Duration::from_secs(10);
pub const GUILD: u64 = 81384788765712384;
pub const CHANNEL: u64 = 381870553235193857;
pub const USER: u64 = 80351110224678912;

/// A MESSAGE_CREATE payload as Discord sends it.
pub fn message(id: u64, content: &str) -> Value {
    json!({
        "id": id.to_string(), "channel_id": CHANNEL.to_string(), "guild_id": GUILD.to_string(),
        "author": {"id": USER.to_string(), "username": "ferris", "discriminator": "0",
                   "global_name": "Ferris", "avatar": null},
        "content": content, "timestamp": "2025-01-01T00:00:00.000000+00:00",
        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0,
        "flags": 0, "components": []
    })
}

/// A MESSAGE_REACTION_ADD payload.
pub fn reaction(message: u64, emoji: &str) -> Value {
    json!({
        "user_id": USER.to_string(), "channel_id": CHANNEL.to_string(),
        "message_id": message.to_string(), "guild_id": GUILD.to_string(),
        "emoji": {"id": null, "name": emoji}, "burst": false, "burst_colors": [], "type": 0
    })
}

/// The envelope of dispatch `t` with payload `d`, as the gateway publishes it.
pub fn envelope(t: &str, seq: u64, d: &Value) -> Vec<u8> {
    envelope_in_epoch(t, seq, d, None)
}

/// [`envelope`] as a node of a shard pool publishes it, under `epoch`.
pub fn envelope_in_epoch(t: &str, seq: u64, d: &Value, epoch: Option<u64>) -> Vec<u8> {
    let frame = json!({"op": 0, "s": seq, "t": t, "d": d}).to_string();
    let dispatch = parse_dispatch(&frame).expect("a routable frame");
    let mut out = Vec::new();
    let source = Source {
        platform: "discord",
        bot: "testbot",
        shard: 0,
        session: "s1",
        epoch,
    };
    encode_into(&mut out, &source, &dispatch, 1_700_000_000_000, None);
    out
}

pub fn inbound_topic() -> Topic {
    Topic::new(&format!("inbound.discord.{GUILD}.{CHANNEL}.{USER}")).expect("topic")
}

pub async fn publish_event(broker: &dyn Broker, t: &str, seq: u64, d: &Value) {
    broker
        .publish(&inbound_topic(), envelope(t, seq, d).into())
        .await
        .expect("publish");
}

pub async fn subscribe(broker: &dyn Broker, pattern: &str) -> Subscription {
    broker
        .subscribe(&Pattern::new(pattern).expect("pattern"))
        .await
        .expect("subscribe")
}

pub async fn recv(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.recv())
        .await
        .expect("a message in time")
        .expect("open")
}

/// The next message on `sub`, as JSON.
pub async fn recv_json(sub: &mut Subscription) -> (Topic, Value) {
    let m = recv(sub).await;
    let v = serde_json::from_slice(&m.payload).expect("json");
    (m.topic, v)
}

/// The next message a handler sent on `sub` (a message object with a nonce Discord
/// enforces): its topic and content.
pub async fn recv_sent(sub: &mut Subscription) -> (Topic, String) {
    let (topic, v) = recv_json(sub).await;
    assert_eq!(v["enforce_nonce"], true, "{v}");
    assert!(v["nonce"].as_str().is_some_and(|n| n.len() <= 25), "{v}");
    let content = v["content"].as_str().expect("content").to_owned();
    (topic, content)
}

/// Nothing arrives on `sub` for `d`.
pub async fn quiet(sub: &mut Subscription, d: Duration) {
    if let Ok(Some(m)) = tokio::time::timeout(d, sub.recv()).await {
        panic!(
            "unexpected message on {}: {}",
            m.topic,
            String::from_utf8_lossy(&m.payload)
        );
    }
}

pub fn embedded() -> Arc<dyn Broker> {
    Arc::new(EmbeddedBroker::new(Default::default()))
}

/// `serve(bots)` on `broker` in a task, stopped by the returned handle.
pub fn start(
    broker: &Arc<dyn Broker>,
    bots: Vec<Bot>,
) -> (Shutdown, JoinHandle<Result<(), ServeError>>) {
    let stop = Shutdown::new();
    let opts = ServeOptions::broker(broker.clone())
        .signals(false)
        .shutdown(&stop);
    (stop, tokio::spawn(serve(bots, opts)))
}

/// Waits until `bot` has IDENTIFIED on `control` (subscribed to `control.gateway`).
pub async fn identified(control: &mut Subscription, bot: &str) -> Value {
    loop {
        let (_, v) = recv_json(control).await;
        if v["t"] == "IDENTIFY" && v["d"]["name"] == bot {
            return v;
        }
    }
}

/// Waits for `serve` to return.
pub async fn finished(task: JoinHandle<Result<(), ServeError>>) -> Result<(), ServeError> {
    tokio::time::timeout(WAIT, task)
        .await
        .expect("serve returns in time")
        .expect("no panic")
}

pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
