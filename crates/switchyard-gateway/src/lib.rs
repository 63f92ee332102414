//! The gateway: Discord shards to broker topics, outbound topics to rate-limited REST calls.
//!
//! ```text
//! Discord ──shards──► runner ──bounded queue──► publisher ──► broker  inbound.discord.{g}.{c}.{u}
//!    ▲                                                           │
//!    └──── switchyard-rest (rate limited) ◄── outbound path ◄────┘  outbound.discord.>
//! ```
//!
//! The modules, private but for `pool` and `services` (everything else a user needs is
//! re-exported below):
//! - `shard`: one runner per shard on twilight-gateway, reading raw frames; routing
//!   (`router`) parses only what it needs and splices `d` into the envelope.
//! - `publish`: the per-shard publisher draining the queue into the broker; `backlog`: how
//!   much of the queue it settled, which a shard's IDENTIFY waits on (a new session only
//!   once the broker took the old one's events).
//! - `queue`: the identify queue (max_concurrency buckets, session start limit).
//! - `close`: Discord's close-code table and the causes of fatal closes.
//! - `session`: sessions saved after their events were handed to the broker, so that a
//!   restarted gateway RESUMEs; `status`: each shard's live state and session record.
//! - `config`: [`GatewayConfig`], which is also the `[gateway]` section's shape.
//! - `bot_rest`: [`BotRest`], REST calls with the bot's token for callers beside the
//!   outbound topics (the gRPC REST service).
//! - `outbound`: outbound messages to REST calls and gateway commands, with error topics;
//!   `route_allowlist`: the routes a general request may use.
//! - `command`: gateway commands (presence, voice state, member requests) from consumers,
//!   forwarded to the process holding the guild's shard, answered on their `reply_to`.
//! - `gateway`: wiring one bot's gateway together ([`start`]).
//! - `interactions`: Discord's HTTP interactions endpoint
//!   ([`RunningGateway::serve_interactions`]): signed requests in, interactions on the bot's
//!   topics, callbacks that arrive in time as the HTTP answers, deferrals otherwise.
//! - [`pool`]: the shard pool shared by several processes of one bot (SHARD_CONNECT,
//!   SHARD_ACCEPT, SHARD_DEATH, a coordinator holding a lease in the key-value store).
//! - [`services`]: service control for the whole process: IDENTIFY answers, the registry of
//!   live services, SHUTDOWN and REBOOT, and the `gateway-proxy.` mark.
//!
//! Plain pub/sub is at-most-once: an event published while no subscriber listens is gone.

mod backlog;
mod bot_rest;
mod cache_feed;
mod cache_view;
mod close;
mod command;
mod config;
mod discord;
mod error;
mod fence;
mod gateway;
mod interactions;
mod locator;
mod outbound;
pub mod pool;
mod publish;
mod queue;
mod report;
mod route_allowlist;
mod router;
mod secret;
pub mod services;
mod session;
mod shard;
mod shards;
mod shared_sub;
mod status;

pub use bot_rest::{BotRest, BotRestAnswer, BotRestError, BotRestRequest};
pub use cache_view::{CacheMiss, CacheQuery, CacheRead, CacheView, ShardSeq};
pub use config::{
    DEFAULT_COMMAND_MAX_AGE, DEFAULT_SESSION_SAVE_INTERVAL, GatewayConfig, PayloadMode, Profile,
    ShardRange, UnknownEvent, UnknownIntent, parse_intents, unknown_events,
};
pub use error::{DiscordError, GatewayError, ShardStopped};
pub use gateway::{GatewayDeps, GatewayStatus, RunningGateway, ShardHandle, start, start_empty};
pub use interactions::{
    BadPublicKey, InteractionsConfig, InteractionsError, PublicKey, RunningInteractions,
};
pub use locator::ShardLocator;
pub use route_allowlist::{BadRoute, DEFAULT_GROUPS as DEFAULT_ROUTE_GROUPS, RouteAllowlist};
pub use router::REBUILD_TOPIC;
pub use secret::Secret;
pub use services::{ControlConfig, RunningControl, ServiceEntry};
pub use session::{
    FileSessionStore, KvSessionStore, SavedSession, SessionStore, SessionStoreError, session_key,
};
pub use shard::GAP_TOPIC;
pub use status::{PhaseChange, ShardPhase, ShardSnapshot, ShardStatus};
pub use switchyard_cache::{CacheConfig, PresenceStatus};
pub use twilight_gateway::Intents;
