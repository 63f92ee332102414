//! The fake Discord: a gateway and REST server faithful enough for real third-party clients
//! (twilight, discord.py), with rate limits, fault injection, counters and a seeded world.
//!
//! # Running it (what `switchyard sim --port P` does)
//!
//! ```no_run
//! # async fn demo(port: u16, token: Option<String>, scenario: Option<std::path::PathBuf>)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_sim::{LoadSpec, Scenario, Sim, SimConfig};
//! // e.g. a `[sim]` table of the TOML config, else SimConfig::default()
//! let config = SimConfig { port, token, ..SimConfig::default() };
//! let sim = Sim::start(config).await?;
//! println!("gateway {}", sim.gateway_url()); // ws://127.0.0.1:P (no trailing slash)
//! println!("rest    {}", sim.api_url()); //     http://127.0.0.1:P/api/v10
//! println!("control {}/_sim/", sim.http_url());
//! if let Some(path) = scenario {
//!     sim.run_scenario(&Scenario::from_path(&path)?).await?;
//! }
//! let load = sim.start_load(LoadSpec { rate: 1_000, ..LoadSpec::default() }); // optional
//! tokio::signal::ctrl_c().await?;
//! load.stop().await;
//! sim.shutdown().await; // gateway connections get close code 1001
//! # Ok(()) }
//! ```
//!
//! [`SimConfig`] derives serde `Deserialize` (all fields optional, `Default` is Discord's
//! numbers), so a binary can read it from a TOML table and override `port`/`token` from its
//! CLI. One port serves everything:
//!
//! - the gateway: a WebSocket upgrade on **any** path (`?v=10&encoding=json&compress=
//!   zlib-stream|zstd-stream`);
//! - REST under `/api/v10/...` (also `/api/v9` and `/api`);
//! - the test-control API under `/_sim/`: `POST /_sim/events` ([`Inject`] as JSON, e.g.
//!   `{"type":"message","channel_id":"…","content":"hi"}`), `POST /_sim/faults` ([`Fault`],
//!   e.g. `{"type":"drop"}`, `{"type":"close","code":4000}`, `{"type":"rate_limit","count":3,
//!   "global":true}`), `GET /_sim/counters` ([`Counters`]), `GET /_sim/world`, `POST /_sim/reset`,
//!   `POST /_sim/load` ([`LoadSpec`]) and `POST /_sim/load/stop`, `POST /_sim/scenario`
//!   ([`Scenario`] as JSON, or TOML with `Content-Type: application/toml`, run in the
//!   background), `POST /_sim/churn` ([`ChurnSpec`], e.g. `{"seed":7,"steps":5000,
//!   "settle":true}`, answered with a [`ChurnReport`]) and `GET /_sim/state` (the churn's
//!   live state), `POST /_sim/interactions` ([`Delivery`]: an interaction delivered to an HTTP
//!   endpoint, signed; answered with the [`Delivered`] record), `GET /_sim/interactions` (every
//!   answer recorded) and `GET /_sim/interactions/key` (`{"public_key": …}`).
//!
//! The same operations are methods of [`SimHandle`] for in-process tests. [`SimConfig::fast`]
//! shortens every timing to milliseconds for tests. Not served: ETF encoding
//! (`encoding=etf` is closed with 4002).
//!
//! # What a session received
//!
//! Each session records the commands its clients sent, every op but heartbeat, identify and
//! resume (presence 3, voice state 4, request guild members 8, ...), as received: the last
//! 1000, oldest first, as [`RecordedCommand`]s `{op, d, at_ms}` in
//! [`SessionCounters::commands`] (from [`SimHandle::counters`] or `GET /_sim/counters`), e.g.
//!
//! ```no_run
//! # fn demo(sim: &switchyard_sim::SimHandle, session_id: &str) -> Option<()> {
//! let counters = sim.counters();
//! let requests: Vec<_> = counters.session(session_id)?.commands_with_op(8).collect();
//! assert_eq!(requests.len(), 1);
//! assert_eq!(requests[0].d["nonce"], "n1");
//! # Some(()) }
//! ```
//!
//! # The churn: a seeded stream of every kind of change
//!
//! [`Churn`] drives a long, seeded, random scenario over the world's guilds (members joining,
//! leaving and updated; roles, channels, overwrites and threads; messages sent, edited and
//! deleted; presences, voice states, emojis, stickers, stage instances, scheduled events;
//! outages), applying each change to a Discord-shaped [`LiveState`] and yielding the
//! dispatches Discord sends for it ([`ChurnEvent`], with what it changed as it was before).
//! It runs in-process (a cache fed its stream must end up equal to its state), or through a
//! running fake with [`SimHandle::churn`] / `POST /_sim/churn`, which dispatches each event
//! to the connected sessions; from the first churn on, every GUILD_CREATE the fake sends
//! shows the live state. REST and op 8 member requests still answer from the generated
//! world.
//!
//! ```
//! use switchyard_sim::{Churn, User, World, WorldConfig};
//! let world = World::generate(&WorldConfig::default());
//! let bot = User { id: 42, username: "bot".into(), global_name: None, avatar: None, bot: true };
//! let mut churn = Churn::new(&world, bot.clone(), 7);
//! let mut events = churn.run(1_000);
//! events.extend(churn.settle()); // every outage over
//! let guild = world.guilds[0].id;
//! let create = churn.state().guild_create(guild, &bot, 250, true).expect("a guild");
//! assert!(!events.is_empty() && create["members"].is_array());
//! ```
//!
//! # Leniencies Discord has too
//!
//! - JSON payloads are accepted in binary WebSocket frames as well as text frames (same
//!   4096-byte limit, same 4002 for what does not decode).
//! - A token of Discord's form (`base64(user id).timestamp.hmac`) gives the bot that user id,
//!   which is also its application id (READY, `/users/@me`, `/applications/@me`, message
//!   authors); any other token gets ids derived from a hash of it.
//!
//! Client commands are otherwise checked against Discord's documented payloads (a missing or
//! mistyped field closes with 4001, as Discord does), except where Discord itself accepts
//! more and clients rely on it: op 3 takes a fractional `since` (discord.py) and null
//! `activities` (discordgo).
//!
//! # Layout
//!
//! The modules are private; what a user needs is re-exported here.
//!
//! - `config`: [`SimConfig`] and its parts; `world` and `worldgen`: the seeded [`World`]
//!   ([`Guild`]s with their [`Channel`]s, [`Role`]s and [`Member`]s); `ids`: snowflakes and
//!   bot identities (each distinct token is its own bot, with ids from the token).
//! - `state`: what the fake holds, below everything that acts on it: bots (one per token),
//!   gateway sessions (with their [`RecordedCommand`]s), the objects created at run time, the
//!   REST limiter, its log and counters.
//! - `gateway`: the WebSocket gateway: frames ([`decode_client_frame`] into [`ClientOp`], or
//!   a [`CloseReason`]), the connection query ([`parse_gateway_query`]), identify, ops and
//!   their checks against Discord's documented payloads, compression, and the fan-out of
//!   events to the sessions that should see them.
//! - `rest`: the REST routes, one function each from a table of method and path, with
//!   Discord-shaped errors and rate-limit responses.
//! - `deliver`: interactions delivered to an HTTP interactions endpoint, signed with the
//!   fake's key (from `world.seed`: the same seed, the same key) as Discord signs them.
//! - `sim_api`: the test-control operations ([`Inject`], [`Fault`]) and `sim_routes`, their
//!   HTTP routes under `/_sim/`; `counters`: what tests compare ([`Counters`]).
//! - `churn`: the seeded stream of changes and the live state it keeps, one file per kind
//!   of change; `sim_churn`: running it against the fake's sessions.
//! - `load` and `mix`: load mode ([`LoadSpec`], [`Load`]) from a fixed mix of pre-rendered
//!   payloads ([`build_mix`]); `scenario`: scripted timelines from TOML/JSON files
//!   ([`Scenario`]).
//! - `server`: the one port serving all of it, [`Sim`] and [`SimHandle`].

mod churn;
mod config;
mod counters;
mod deliver;
mod error;
mod gateway;
mod ids;
mod load;
mod mix;
mod rest;
mod scenario;
mod server;
mod sim_api;
mod sim_churn;
mod sim_routes;
mod state;
mod world;
mod worldgen;

pub use churn::{Churn, ChurnEvent, LiveState, RECENT_MESSAGES};
pub use config::{Limit, RateLimits, SimConfig, Timings, WorldConfig};
pub use counters::{Counters, SessionCounters, ShardCounters, TransportCounts};
pub use deliver::{Delivery, DeliveryKind, Signing};
pub use error::SimError;
pub use ids::now_ms;
pub use load::LoadSpec;
pub use mix::{Prerendered, WEIGHTS as MIX_WEIGHTS, build as build_mix};
pub use scenario::{Scenario, ScenarioStep};
pub use server::{Sim, SimHandle};
pub use sim_api::{Fault, Inject, RateLimitScope};
pub use sim_churn::{ChurnReport, ChurnSpec};
pub use state::Load;
pub use state::delivered::Delivered;
pub use state::rest::{RestCall, RestCounts};
pub use state::session::RecordedCommand;
pub use switchyard_core::gateway_proto::compress::Transport;
pub use switchyard_core::gateway_proto::frame::{
    ClientOp, CloseReason, Identify, OneOrMany, RequestMembers, Resume, Snowflake, VoiceState,
    decode_client_frame,
};
pub use switchyard_core::gateway_proto::query::{ConnParams, parse_query as parse_gateway_query};
pub use world::{Channel, Guild, Member, Role, User, World};
