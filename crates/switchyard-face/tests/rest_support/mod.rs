//! The harness of the face's REST tests: the fake Discord, accepting the bot's real token
//! only, and a face in front of it with a small [`StateSource`], served on a loopback port.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use switchyard_face::{
    BotIdentity, FaceOptions, FaceTokens, GuildCreateScope, GuildEntry, GuildSnapshot,
    MemberAnswer, MemberLookup, RestUpstream, SessionStarts, SourceError, StateSource, rest_router,
};
use switchyard_rest::{RestClient, RestConfig, WaitMode};
use switchyard_sim::{RateLimits, Sim, SimConfig, SimHandle};

/// The bot's user id, which both tokens carry.
pub const BOT_ID: u64 = 123_456_789_012_345_678;
/// The bot's Discord token: the only one the fake accepts.
pub const REAL: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.the-real-discord-token";
/// The public URL the face gives for its WebSocket.
pub const PUBLIC_URL: &str = "ws://face.example:7000";
/// The upstream shard count the source reports.
pub const SHARDS: u32 = 3;

/// The face token clients use (the bot's id, then a secret of the face's own).
pub fn face_token() -> String {
    FaceTokens::mint(BOT_ID, "face-secret-0123456789abcdef")
}

/// A source that knows the bot (or not yet).
struct Source(Option<BotIdentity>);

#[async_trait]
impl StateSource for Source {
    async fn identity(&self) -> Result<BotIdentity, SourceError> {
        self.0.clone().ok_or(SourceError::NotReady)
    }

    async fn guilds(&self) -> Result<Vec<GuildEntry>, SourceError> {
        Ok(Vec::new())
    }

    async fn guild_create(
        &self,
        guild: u64,
        _scope: GuildCreateScope,
    ) -> Result<GuildSnapshot, SourceError> {
        Err(SourceError::UnknownGuild(guild))
    }

    async fn members(
        &self,
        _guild: u64,
        _lookup: &MemberLookup,
    ) -> Result<Option<MemberAnswer>, SourceError> {
        Ok(None)
    }
}

/// The fake Discord and a face in front of it, served on a loopback port.
pub struct Face {
    /// The fake Discord.
    pub sim: SimHandle,
    /// Where the face listens.
    pub addr: SocketAddr,
    /// The bot's user as the fake describes it.
    pub user: Value,
}

/// How a test's face and fake are set up.
pub struct Setup {
    /// Whether the source knows the bot (else it answers `NotReady`).
    pub ready: bool,
    /// The face's REST client's wait mode.
    pub wait: WaitMode,
    /// The fake's rate limits.
    pub rate_limits: RateLimits,
    /// Where the face's REST client sends requests (`None`: the fake).
    pub upstream: Option<String>,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            ready: true,
            wait: RestConfig::default().wait,
            rate_limits: RateLimits::default(),
            upstream: None,
        }
    }
}

impl Face {
    /// Starts the fake and a face in front of it.
    pub async fn start(setup: Setup) -> Face {
        let sim = Sim::start(SimConfig {
            token: Some(REAL.to_owned()),
            rate_limits: setup.rate_limits,
            ..SimConfig::fast()
        })
        .await
        .expect("the fake starts");
        let user: Value = reqwest::Client::new()
            .get(format!("{}/users/@me", sim.api_url()))
            .header("Authorization", format!("Bot {REAL}"))
            .send()
            .await
            .expect("the fake answers")
            .text()
            .await
            .map(|t| serde_json::from_str(&t).expect("json"))
            .expect("a body");
        assert_eq!(
            user["id"],
            BOT_ID.to_string(),
            "the fake reads the token's id"
        );
        let identity = BotIdentity {
            user: RawValue::from_string(user.to_string()).expect("json"),
            user_id: BOT_ID,
            application: RawValue::from_string(
                json!({"id": BOT_ID.to_string(), "flags": 565_248}).to_string(),
            )
            .expect("json"),
            intents: 1,
            shards: SHARDS,
        };
        let client = RestClient::new(RestConfig {
            upstream: setup.upstream.unwrap_or_else(|| sim.http_url().to_owned()),
            wait: setup.wait,
            ..RestConfig::default()
        })
        .await
        .expect("REST client");
        let tokens = FaceTokens::new([face_token()]).expect("a valid face token");
        let router = rest_router(
            Arc::new(FaceOptions::new(tokens, PUBLIC_URL)),
            Arc::new(Source(setup.ready.then_some(identity))),
            Some(Arc::new(RestUpstream {
                client,
                token: REAL.to_owned(),
            })),
            SessionStarts::default(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Face { sim, addr, user }
    }

    /// Stock twilight-http with a face token, its only change the base URL.
    pub fn twilight(&self) -> twilight_http::Client {
        twilight_http::Client::builder()
            .token(face_token())
            .proxy(self.addr.to_string(), true)
            .build()
    }

    /// A raw request to the face: status, headers, JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        auth: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = reqwest::Client::new().request(method, format!("http://{}{path}", self.addr));
        if let Some(auth) = auth {
            req = req.header("Authorization", auth);
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("Content-Type", content_type).body(bytes);
        }
        let res = req.send().await.expect("the face answers");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("a body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        };
        (status, headers, body)
    }

    /// REST requests the fake has handled.
    pub fn upstream_requests(&self) -> u64 {
        self.sim.counters().rest.requests
    }

    /// The fake's last recorded call.
    pub fn last_call(&self) -> switchyard_sim::RestCall {
        self.sim
            .counters()
            .rest_calls
            .last()
            .cloned()
            .expect("a recorded call")
    }

    /// A text channel of the bot's first guild.
    pub fn channel(&self) -> u64 {
        self.sim.world().guilds[0]
            .channels
            .iter()
            .find(|c| c.kind == 0)
            .expect("a text channel")
            .id
    }
}

/// An Authorization value for `token`.
pub fn bot(token: &str) -> String {
    format!("Bot {token}")
}
