//! The face on an embedded broker with a source of fixed state, and a raw WebSocket client
//! that reads Discord's frames (zlib-stream included).

#![allow(dead_code, reason = "each test binary uses some of the helpers")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerOptions, Pattern, Topic};
use switchyard_face::{
    BotIdentity, FaceDeps, FaceOptions, FaceTokens, GuildCreateScope, GuildEntry, GuildSnapshot,
    MemberAnswer, MemberLookup, RunningFace, SourceError, StateSource,
};
use tokio_tungstenite::tungstenite::Message;

pub const BOT: u64 = 80351110224678912;
pub const UPSTREAM_INTENTS: u64 = 0x1_FFFF & !(1 << 8); // everything but GUILD_PRESENCES

pub fn token() -> String {
    FaceTokens::mint(BOT, "0123456789abcdef0123456789")
}

/// Guild ids whose virtual shard of 2 is `shard`: `(id >> 22) % 2`.
pub fn guild(n: u64) -> u64 {
    (n << 22) | 7
}

/// A source of fixed state: `guilds` with `members` each, every guild read at `seq`.
pub struct FixedSource {
    pub guilds: Vec<u64>,
    pub seq: Mutex<HashMap<u64, u64>>,
    pub members: usize,
    pub complete: bool,
    /// The upstream shard count.
    pub shards: u32,
}

#[async_trait]
impl StateSource for FixedSource {
    async fn identity(&self) -> Result<BotIdentity, SourceError> {
        Ok(BotIdentity {
            user: raw(
                &json!({"id": BOT.to_string(), "username": "face-bot", "bot": true, "discriminator": "0", "avatar": null, "global_name": null}),
            ),
            user_id: BOT,
            application: raw(&json!({"id": BOT.to_string(), "flags": 0})),
            intents: UPSTREAM_INTENTS,
            shards: self.shards,
        })
    }

    async fn guilds(&self) -> Result<Vec<GuildEntry>, SourceError> {
        Ok(self
            .guilds
            .iter()
            .map(|id| GuildEntry {
                id: *id,
                unavailable: false,
            })
            .collect())
    }

    async fn guild_create(
        &self,
        guild: u64,
        scope: GuildCreateScope,
    ) -> Result<GuildSnapshot, SourceError> {
        if !self.guilds.contains(&guild) {
            return Err(SourceError::UnknownGuild(guild));
        }
        let seq = self.seq.lock().expect("lock").get(&guild).copied();
        Ok(GuildSnapshot {
            shard: 0,
            seq,
            payload: raw(&guild_create(guild, scope.large_threshold)),
        })
    }

    async fn members(
        &self,
        guild: u64,
        lookup: &MemberLookup,
    ) -> Result<Option<MemberAnswer>, SourceError> {
        if !self.complete {
            return Ok(None);
        }
        let all = (1..=self.members as u64).map(member);
        let members: Vec<Box<RawValue>> = match &lookup.user_ids {
            Some(ids) => ids
                .iter()
                .filter(|u| **u as usize <= self.members)
                .map(|u| member(*u))
                .collect(),
            None if lookup.limit == 0 => all.collect(),
            None => all.take(lookup.limit as usize).collect(),
        };
        let not_found = lookup
            .user_ids
            .iter()
            .flatten()
            .filter(|u| **u as usize > self.members)
            .copied()
            .collect();
        let _ = guild;
        Ok(Some(MemberAnswer {
            members,
            presences: Vec::new(),
            not_found,
        }))
    }
}

pub fn raw(v: &Value) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("json")
}

fn member(user: u64) -> Box<RawValue> {
    raw(
        &json!({"user": {"id": user.to_string(), "username": format!("user{user}"), "discriminator": "0", "avatar": null, "global_name": null}, "roles": [], "joined_at": "2024-01-01T00:00:00.000000+00:00", "deaf": false, "mute": false, "flags": 0}),
    )
}

pub fn guild_create(id: u64, large_threshold: u32) -> Value {
    json!({
        "id": id.to_string(), "name": format!("guild {id}"), "icon": null, "owner_id": "1",
        "afk_channel_id": null, "afk_timeout": 300, "verification_level": 0,
        "default_message_notifications": 0, "explicit_content_filter": 0,
        "roles": [{"id": id.to_string(), "name": "@everyone", "color": 0, "hoist": false, "position": 0, "permissions": "1024", "managed": false, "mentionable": false, "flags": 0}],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "vanity_url_code": null, "description": null, "banner": null, "premium_tier": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": null, "nsfw_level": 0,
        "premium_progress_bar_enabled": false, "safety_alerts_channel_id": null,
        "joined_at": "2024-01-01T00:00:00.000000+00:00", "large": large_threshold < 10,
        "unavailable": false, "member_count": 1, "voice_states": [], "members": [],
        "channels": [{"id": (id + 1).to_string(), "type": 0, "name": "general", "position": 0, "permission_overwrites": []}],
        "threads": [], "presences": [], "stage_instances": [], "guild_scheduled_events": [],
        "stickers": [], "mfa_level": 0, "max_video_channel_users": 25, "nsfw": false
    })
}

/// A running face and the broker it reads.
pub struct Face {
    pub running: RunningFace,
    pub broker: Arc<dyn Broker>,
    pub source: Arc<FixedSource>,
    seq: Mutex<u64>,
}

pub async fn face(guilds: Vec<u64>, tune: impl FnOnce(&mut FaceOptions)) -> Face {
    face_with(
        FixedSource {
            guilds,
            seq: Mutex::new(HashMap::new()),
            members: 3,
            complete: true,
            shards: 1,
        },
        tune,
    )
    .await
}

pub async fn face_with(source: FixedSource, tune: impl FnOnce(&mut FaceOptions)) -> Face {
    let broker = switchyard_broker::connect("embedded", &BrokerOptions::default())
        .await
        .expect("embedded broker");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let tokens = FaceTokens::new([token()]).expect("tokens");
    let mut options = FaceOptions::new(tokens, format!("ws://{addr}"));
    tune(&mut options);
    let source = Arc::new(source);
    let running = switchyard_face::serve(
        listener,
        options,
        FaceDeps {
            bot: "bot".into(),
            broker: broker.clone(),
            source: source.clone(),
            rest: None,
            inbound: Pattern::new("inbound.discord.>").expect("pattern"),
            reply_prefix: "inbound.rest".into(),
        },
    )
    .await
    .expect("face starts");
    Face {
        running,
        broker,
        source,
        seq: Mutex::new(0),
    }
}

impl Face {
    pub fn url(&self) -> String {
        format!("ws://{}", self.running.local_addr())
    }

    /// Publishes a dispatch of the bot as the gateway would; returns its upstream sequence.
    pub async fn publish(&self, t: &str, guild: Option<u64>, d: Value) -> u64 {
        let seq = {
            let mut s = self.seq.lock().expect("lock");
            *s += 1;
            *s
        };
        let envelope = json!({"v": 1, "id": format!("{seq:032x}"), "s": "discord/bot/0", "t": t,
            "seq": seq, "shard": 0, "bot": "bot", "received_ms": 1, "d": d});
        let topic = format!("inbound.discord.{}.0.0", guild.unwrap_or(0));
        self.broker
            .publish(
                &Topic::new(&topic).expect("topic"),
                Bytes::from(envelope.to_string()),
            )
            .await
            .expect("publish");
        seq
    }

    /// A MESSAGE_CREATE in a guild's channel, with `n` as its content.
    pub async fn message(&self, guild: u64, n: u64) -> u64 {
        self.publish(
            "MESSAGE_CREATE",
            Some(guild),
            json!({"id": (1000 + n).to_string(), "guild_id": guild.to_string(), "channel_id": (guild + 1).to_string(),
                "author": {"id": "5", "username": "someone", "discriminator": "0", "avatar": null, "global_name": null},
                "content": format!("message {n}"), "timestamp": "2024-01-01T00:00:00.000000+00:00",
                "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
                "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0}),
        )
        .await
    }
}

/// A raw client.
pub struct Client {
    pub ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    inflate: Option<flate2::Decompress>,
    /// Binary frames that were whole zlib messages (payload compression).
    pub payload_compressed: usize,
    pub last_seq: Option<u64>,
}

pub async fn connect(url: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    Client {
        ws,
        inflate: url
            .contains("zlib-stream")
            .then(|| flate2::Decompress::new(true)),
        payload_compressed: 0,
        last_seq: None,
    }
}

/// What the next read gave.
#[derive(Debug)]
pub enum Got {
    Frame(Value),
    Closed(Option<u16>, String),
}

impl Client {
    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, t: String) {
        let _ = self.ws.send(Message::text(t)).await;
    }

    pub async fn read(&mut self) -> Got {
        loop {
            let msg = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("a frame in time");
            let text = match msg {
                Some(Ok(Message::Text(t))) => t.as_str().to_owned(),
                Some(Ok(Message::Binary(b))) => self.inflate(&b),
                Some(Ok(Message::Close(frame))) => {
                    return Got::Closed(
                        frame.as_ref().map(|f| u16::from(f.code)),
                        frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                    );
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(None, String::new()),
            };
            let v: Value = serde_json::from_str(&text).expect("JSON frame");
            if let Some(s) = v["s"].as_u64() {
                self.last_seq = Some(s);
            }
            return Got::Frame(v);
        }
    }

    fn inflate(&mut self, bytes: &[u8]) -> String {
        let Some(d) = self.inflate.as_mut() else {
            // payload compression (IDENTIFY's `compress: true`): each binary frame is a
            // whole zlib message
            use std::io::Read as _;
            let mut text = String::new();
            flate2::read::ZlibDecoder::new(bytes)
                .read_to_string(&mut text)
                .expect("a whole zlib message");
            self.payload_compressed += 1;
            return text;
        };
        let start = d.total_in();
        let mut out = Vec::with_capacity(bytes.len() * 4 + 1024);
        loop {
            let used = (d.total_in() - start) as usize;
            d.decompress_vec(&bytes[used..], &mut out, flate2::FlushDecompress::Sync)
                .expect("inflate");
            if (d.total_in() - start) as usize == bytes.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(1024));
        }
        String::from_utf8(out).expect("utf8")
    }

    /// The next frame, which must be one.
    pub async fn frame(&mut self) -> Value {
        match self.read().await {
            Got::Frame(v) => v,
            Got::Closed(code, reason) => panic!("closed with {code:?}: {reason}"),
        }
    }

    /// The next dispatch, skipping heartbeat ACKs and requests.
    pub async fn dispatch(&mut self) -> Value {
        loop {
            let v = self.frame().await;
            if v["op"] == 0 {
                return v;
            }
        }
    }

    /// The close code the face ends with.
    pub async fn closed(&mut self) -> (Option<u16>, String) {
        loop {
            if let Got::Closed(code, reason) = self.read().await {
                return (code, reason);
            }
        }
    }

    pub async fn hello(&mut self) -> Value {
        let v = self.frame().await;
        assert_eq!(v["op"], 10, "HELLO first: {v}");
        v
    }

    pub async fn identify(&mut self, shard: Option<[u64; 2]>, intents: u64) {
        let mut d = json!({"token": token(), "intents": intents, "properties": {"os": "linux", "browser": "test", "device": "test"}});
        if let Some(s) = shard {
            d["shard"] = json!(s);
        }
        self.send(json!({"op": 2, "d": d})).await;
    }

    /// HELLO, IDENTIFY, READY and every GUILD_CREATE: READY and the guilds' ids.
    pub async fn start(&mut self, shard: Option<[u64; 2]>, intents: u64) -> (Value, Vec<u64>) {
        self.hello().await;
        self.identify(shard, intents).await;
        let ready = self.dispatch().await;
        assert_eq!(ready["t"], "READY", "{ready}");
        let n = ready["d"]["guilds"].as_array().map_or(0, Vec::len);
        let mut guilds = Vec::new();
        while guilds.len() < n {
            let g = self.dispatch().await;
            assert_eq!(g["t"], "GUILD_CREATE", "{g}");
            guilds.push(id(&g["d"]["id"]));
        }
        guilds.sort_unstable();
        (ready, guilds)
    }
}

pub fn id(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .expect("snowflake string")
}
