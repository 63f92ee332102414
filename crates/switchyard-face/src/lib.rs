//! The Discord-compatible face: unmodified bots (discord.py, discord.js, twilight, serenity,
//! hikari…) connect to Switchyard as if it were Discord, while the real connection to
//! Discord stays in the gateway's shards, which never notice a client come or go.
//!
//! The face is a consumer like any other: it reads the bot's events from the broker's inbound
//! topics, builds READY, GUILD_CREATE and member chunks from the cache ([`StateSource`]),
//! sends clients' commands through the command topics, and forwards REST calls through
//! Switchyard's rate limiter with the bot's real token.
//!
//! - [`source`]: what the face reads of the bot and its caches.
//! - [`options`]: how it serves its clients; [`tokens`]: the clients' own tokens.
//! - `server`: the listener, the broker feed and the sweeper ([`serve`]); `shared`: what
//!   its connections share.
//! - `conn`: one client connection; `ready`: IDENTIFY, READY and the guilds.
//! - `session`: one client session, its sequence and replay buffer; `hub`: all of them.
//! - `event`: the bot's events as sessions get them; `feed`: the broker's side.
//! - `commands`: ops 3, 4 and 8; `rest`: the REST API on the same port.
//! - `upstream`: INVALID_SESSION for what an upstream rebuild could not describe.

mod commands;
mod conn;
mod event;
mod feed;
mod hub;
pub mod options;
mod ready;
mod rest;
mod server;
mod session;
mod shared;
pub mod source;
pub mod tokens;
mod upstream;

pub use options::FaceOptions;
pub use rest::{RestUpstream, SessionStartLimit, SessionStarts, rest_router};
pub use server::{FaceDeps, FaceError, RunningFace, serve};
pub use source::{
    BotIdentity, GuildCreateScope, GuildEntry, GuildSnapshot, MemberAnswer, MemberLookup,
    SourceError, StateSource,
};
pub use tokens::{FaceTokens, TokenError};
