//! The sim's shared state, below everything that acts on it (the gateway, REST, the
//! test-control API, load): bots (one per token), sessions, the world, the objects created at
//! run time, the REST limiter and log, and the running load's handle.

pub(crate) mod delivered;
pub(crate) mod limiter;
pub(crate) mod rest;
pub(crate) mod session;
pub(crate) mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::churn::Churn;
use crate::config::SimConfig;
use crate::ids::{BotIdentity, SnowflakeGen, strip_token_prefix};
use crate::world::{Guild, User, World};
use rest::RestState;
use session::Session;
use store::Store;

/// Locks a mutex, recovering from poisoning (critical sections here never panic midway).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per-bot gateway limits.
#[derive(Debug)]
pub struct BotLimits {
    /// Last IDENTIFY per rate-limit bucket.
    pub identify_last: HashMap<u32, Instant>,
    /// Session starts used in the current period.
    pub starts_used: u32,
    /// Start of the current session-start period.
    pub period_start: Instant,
    /// Last full member request per guild.
    pub member_requests: HashMap<u64, Instant>,
}

/// A bot: a distinct token with its own user and application.
pub struct Bot {
    /// The token without prefix (never logged).
    pub token: String,
    /// Ids and name derived from the token.
    pub identity: BotIdentity,
    /// Limits state.
    pub limits: Mutex<BotLimits>,
    /// Set when the session-start limit was exhausted: the token was "reset".
    pub revoked: AtomicBool,
}

impl std::fmt::Debug for Bot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bot")
            .field("identity", &self.identity)
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Bot {
    /// A bot for a prefix-stripped token.
    pub fn new(token: String) -> Self {
        let identity = BotIdentity::from_token(&token);
        Self {
            token,
            identity,
            limits: Mutex::new(BotLimits {
                identify_last: HashMap::new(),
                starts_used: 0,
                period_start: Instant::now(),
                member_requests: HashMap::new(),
            }),
            revoked: AtomicBool::new(false),
        }
    }

    /// The bot's user.
    pub fn user(&self) -> User {
        User::bot(&self.identity)
    }

    /// Session starts remaining now, and milliseconds until the period resets.
    pub fn session_starts(&self, total: u32, period: Duration) -> (u32, u64) {
        let mut l = lock(&self.limits);
        let elapsed = l.period_start.elapsed();
        if elapsed >= period {
            l.period_start = Instant::now();
            l.starts_used = 0;
        }
        let left = period.saturating_sub(l.period_start.elapsed());
        (total.saturating_sub(l.starts_used), left.as_millis() as u64)
    }
}

/// Message facts needed for the MESSAGE_CONTENT rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageMeta {
    /// The author.
    pub author_id: u64,
    /// Mentioned users.
    pub mentions: Vec<u64>,
}

/// A dispatch event to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event name, e.g. `MESSAGE_CREATE`.
    pub name: String,
    /// The `d` payload.
    pub d: Value,
    /// The guild, which picks the shard; `None` goes to shard 0.
    pub guild_id: Option<u64>,
    /// Deliver only to this bot (user id), e.g. an interaction for one application.
    pub only_bot: Option<u64>,
    /// Deliver to every bot but this one (user id), e.g. a presence update about the bot
    /// itself, which Discord does not send back to its own sessions.
    pub except_bot: Option<u64>,
    /// Set for MESSAGE_CREATE/UPDATE: applies the MESSAGE_CONTENT rules.
    pub message: Option<MessageMeta>,
    /// The user the event is about. The one exemption from the intent check Discord
    /// documents: GUILD_MEMBER_UPDATE for the bot's own member is sent without GUILD_MEMBERS.
    pub about_user: Option<u64>,
}

impl Event {
    /// An event with only a name, a payload and a guild.
    pub fn new(name: impl Into<String>, d: Value, guild_id: Option<u64>) -> Self {
        Self {
            name: name.into(),
            d,
            guild_id,
            only_bot: None,
            except_bot: None,
            message: None,
            about_user: None,
        }
    }
}

/// Global fault switches.
#[derive(Debug, Default)]
pub struct Faults {
    /// Stop answering heartbeats on every connection.
    pub stop_ack: AtomicBool,
}

/// Everything the sim's tasks share. Its `Debug` shows no tokens.
pub struct Shared {
    /// The configuration.
    pub config: SimConfig,
    /// `http://host:port`.
    pub http_url: String,
    /// `ws://host:port`.
    pub ws_url: String,
    /// The generated world.
    pub world: World,
    /// The churn, once started: the world's guilds as they are now, which every later
    /// GUILD_CREATE shows. Held while a churn's events are dispatched and while an
    /// IDENTIFY queues its GUILD_CREATEs, so that a session gets each guild's GUILD_CREATE
    /// and then exactly the events after it.
    pub churn: Mutex<Option<Churn>>,
    /// Fresh snowflakes.
    pub ids: SnowflakeGen,
    /// Bots by token.
    pub bots: Mutex<HashMap<String, Arc<Bot>>>,
    /// Sessions by id (ended ones are kept for the counters until reset).
    pub sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// REST objects created at run time.
    pub store: Mutex<Store>,
    /// REST limits, log and counters.
    pub rest: RestState,
    /// Fault switches.
    pub faults: Faults,
    /// Connection ids.
    pub conn_ids: AtomicU64,
    /// Gateway connections opened.
    pub connections: AtomicU64,
    /// Gateway connections per transport compression: none, zlib-stream, zstd-stream.
    pub connections_by_transport: [AtomicU64; 3],
    /// IDENTIFYs that started a session.
    pub identifies: AtomicU64,
    /// IDENTIFYs answered INVALID_SESSION because their `max_concurrency` bucket had
    /// identified less than the identify window before.
    pub identifies_too_fast: AtomicU64,
    /// The load generator started over the control API, if any.
    pub load: tokio::sync::Mutex<Option<Load>>,
    /// Set to true when the sim shuts down: every connection closes with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// The key interactions delivered over HTTP are signed with, and their answers.
    pub deliveries: delivered::Deliveries,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("http_url", &self.http_url)
            .field("ws_url", &self.ws_url)
            .field("bots", &lock(&self.bots).len())
            .field("sessions", &lock(&self.sessions).len())
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Shared state for a configuration and bound URLs.
    pub fn new(config: SimConfig, http_url: String, ws_url: String) -> Self {
        let world = World::generate(&config.world);
        let rest = RestState::new(&config.rate_limits);
        let deliveries = delivered::Deliveries::new(config.world.seed);
        Self {
            config,
            http_url,
            ws_url,
            world,
            churn: Mutex::new(None),
            ids: SnowflakeGen::default(),
            bots: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            store: Mutex::new(Store::default()),
            rest,
            faults: Faults::default(),
            conn_ids: AtomicU64::new(1),
            connections: AtomicU64::new(0),
            connections_by_transport: Default::default(),
            identifies: AtomicU64::new(0),
            identifies_too_fast: AtomicU64::new(0),
            load: tokio::sync::Mutex::new(None),
            shutdown: tokio::sync::watch::channel(false).0,
            deliveries,
        }
    }

    /// The bot of a token or Authorization value, or `None` if the token is refused.
    pub fn bot(&self, token: &str) -> Option<Arc<Bot>> {
        let token = strip_token_prefix(token);
        if token.is_empty() || token.len() > 200 || token.chars().any(char::is_whitespace) {
            return None;
        }
        if let Some(only) = &self.config.token
            && strip_token_prefix(only) != token
        {
            return None;
        }
        let bot = lock(&self.bots)
            .entry(token.to_owned())
            .or_insert_with(|| Arc::new(Bot::new(token.to_owned())))
            .clone();
        (!bot.revoked.load(Ordering::Relaxed)).then_some(bot)
    }

    /// A session by id.
    pub fn session(&self, id: &str) -> Option<Arc<Session>> {
        lock(&self.sessions).get(id).cloned()
    }

    /// Every session not yet ended.
    pub fn live_sessions(&self) -> Vec<Arc<Session>> {
        let window = Duration::from_millis(self.config.timings.resume_window_ms);
        let now = Instant::now();
        let all: Vec<_> = lock(&self.sessions).values().cloned().collect();
        all.into_iter()
            .filter(|s| {
                if s.resumable(now, window) {
                    true
                } else {
                    s.end();
                    false
                }
            })
            .collect()
    }

    /// The guilds of a shard.
    pub fn shard_guilds(&self, shard: [u32; 2]) -> Vec<&Guild> {
        self.world.shard_guilds(shard[0], shard[1]).collect()
    }

    /// Forgets sessions, bots, REST objects, counters and the churn (the generated world
    /// stays, as it was before any churn).
    pub fn reset(&self) {
        *lock(&self.churn) = None;
        let sessions: Vec<_> = lock(&self.sessions).drain().map(|(_, s)| s).collect();
        for s in sessions {
            s.command(session::ConnCommand::Close(1000));
            s.end();
        }
        lock(&self.bots).clear();
        *lock(&self.store) = Store::default();
        self.deliveries.clear();
        self.rest.reset();
        self.faults.stop_ack.store(false, Ordering::Relaxed);
        self.identifies.store(0, Ordering::Relaxed);
        self.identifies_too_fast.store(0, Ordering::Relaxed);
    }
}

/// A running load generator (`load::start` makes one).
#[derive(Debug)]
pub struct Load {
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) produced: Arc<AtomicU64>,
    pub(crate) task: tokio::task::JoinHandle<()>,
    /// Mean frame size of the mix in bytes.
    pub mean_frame_size: f64,
}

impl Load {
    /// Events produced so far (each counted once, however many sessions got it).
    pub fn produced(&self) -> u64 {
        self.produced.load(Ordering::Relaxed)
    }

    /// Stops the generator and waits for it.
    pub async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.produced.load(Ordering::Relaxed)
    }

    /// Whether the generator has finished.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}
