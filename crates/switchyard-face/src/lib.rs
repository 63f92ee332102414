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
//! - [`options`]: how it serves its clients.
//! - [`tokens`]: the clients' own tokens.
//! - `rest`: the REST API on the same port.

pub mod options;
mod rest;
pub mod source;
pub mod tokens;

pub use options::FaceOptions;
pub use rest::{RestUpstream, SessionStartLimit, SessionStarts, rest_router};
pub use source::{
    BotIdentity, GuildCreateScope, GuildEntry, GuildSnapshot, MemberAnswer, MemberLookup,
    SourceError, StateSource,
};
pub use tokens::{FaceTokens, TokenError};
