//! The `[face]` section: the Discord-compatible face, in `switchyard run` (`enabled = true`)
//! or on its own (`switchyard face`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use switchyard_face::{FaceOptions, FaceTokens};

/// The face's default address.
pub const DEFAULT_FACE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7878);

/// `[face]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaceConfig {
    /// `switchyard run` serves the face beside its gateway.
    pub enabled: bool,
    /// Where the face listens (its WebSocket and REST API on one port).
    pub bind: SocketAddr,
    /// The URL clients reach it at (`/gateway` and READY's `resume_gateway_url`); default
    /// `ws://` and the bound address.
    pub public_url: Option<String>,
    /// Which bot of `[gateway]` it serves (default: the only one, or the first of
    /// `[[gateway.bots]]`).
    pub bot: Option<String>,
    /// The tokens clients identify with, in Discord's form (`switchyard face --mint-token`
    /// makes one); a list, or one string of comma-separated tokens.
    #[serde(deserialize_with = "tokens")]
    pub tokens: Vec<String>,
    /// Events each session keeps for a RESUME.
    pub replay_events: usize,
    /// How long a session waits for its client to RESUME, and the oldest event it keeps.
    pub replay_secs: u64,
    /// Frames queued for one client before it is closed as too slow (it resumes).
    pub client_queue: usize,
    /// The most guilds a client's shard may hold (else 4011), as Discord's 2,500.
    pub max_guilds_per_shard: usize,
    /// HELLO's heartbeat interval.
    pub heartbeat_interval_ms: u64,
    /// `/gateway/bot`'s `max_concurrency`: IDENTIFYs a client may start per 5 s.
    pub max_concurrency: u32,
    /// `switchyard face`: the admin listeners (`http://host:port`) whose cache API it reads;
    /// one node of a shard pool is enough (it forwards), more are tried in turn.
    pub cache_urls: Vec<String>,
    /// `switchyard face`: the bearer token of those admin listeners (`admin.token`).
    pub cache_token: Option<String>,
}

impl Default for FaceConfig {
    fn default() -> Self {
        FaceConfig {
            enabled: false,
            bind: DEFAULT_FACE,
            public_url: None,
            bot: None,
            tokens: Vec::new(),
            replay_events: 10_000,
            replay_secs: 120,
            client_queue: 4096,
            max_guilds_per_shard: 2500,
            heartbeat_interval_ms: 41_250,
            max_concurrency: 16,
            cache_urls: Vec::new(),
            cache_token: None,
        }
    }
}

fn tokens<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Tokens {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Tokens::deserialize(d)? {
        Tokens::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        Tokens::Many(v) => v,
    })
}

impl FaceConfig {
    /// The face's options, once it listens at `bound`.
    pub fn options(&self, bound: SocketAddr) -> anyhow::Result<FaceOptions> {
        let tokens = FaceTokens::new(self.tokens.iter().cloned())?;
        let url = self
            .public_url
            .clone()
            .unwrap_or_else(|| format!("ws://{bound}"));
        let mut o = FaceOptions::new(tokens, url.trim_end_matches('/'));
        o.replay_events = self.replay_events;
        o.replay_window = Duration::from_secs(self.replay_secs);
        o.client_queue = self.client_queue;
        o.max_guilds_per_shard = self.max_guilds_per_shard;
        o.heartbeat_interval = Duration::from_millis(self.heartbeat_interval_ms);
        o.max_concurrency = self.max_concurrency;
        Ok(o)
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !self.enabled && self.tokens.is_empty() {
            return Ok(());
        }
        FaceTokens::new(self.tokens.iter().cloned())
            .map_err(|e| anyhow::anyhow!("face.tokens: {e}"))?;
        if self.client_queue == 0 || self.replay_events < self.client_queue {
            anyhow::bail!(
                "face.replay_events ({}) must be at least face.client_queue ({}), and that at least 1: a client closed for being slow resumes from its replay buffer",
                self.replay_events,
                self.client_queue
            );
        }
        if self.heartbeat_interval_ms < 1000 {
            anyhow::bail!("face.heartbeat_interval_ms must be at least 1000");
        }
        Ok(())
    }
}
