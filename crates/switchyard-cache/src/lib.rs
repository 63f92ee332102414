//! The cache: Discord's state as one shard sees it, kept in memory from the dispatches the
//! shard receives, and the previous state of whatever an event changes.
//!
//! One [`ShardCache`] per shard, so that a shard and its cache move together. The gateway
//! hands it each dispatch it [`wants`](ShardCache::wants) (only the events the configured
//! resources need; every other event passes without being parsed) and gets back the object
//! as it was before the event, as Discord-shaped JSON, for the envelope's `old`.
//!
//! What it keeps, each configurable ([`CacheConfig`]):
//! - guilds (their own fields, without the lists GUILD_CREATE carries), channels and threads,
//!   roles, emoji and sticker lists, stage instances and scheduled events: as Discord sent
//!   them, raw JSON, since there are few of them per guild; voice states, raw too;
//! - members, users (once however many guilds they share) and presences, in compact forms of
//!   their own (there may be millions), each written back as it came;
//! - the last N messages of each channel, raw.
//!
//! Discord's rules, event by event: a GUILD_MEMBER_UPDATE carries some fields only and the
//! absent ones keep their cached values; a MESSAGE_UPDATE may carry a subset of the message,
//! merged over the cached one; USER_UPDATE concerns the bot's own user; a guild that becomes
//! unavailable keeps its cached state until it is deleted for good.
//!
//! Surviving a restart: [`ShardCache::snapshot`] writes the whole cache as JSON (each guild
//! as the GUILD_CREATE Discord would send, [`ShardCache::guild_create`]) with the
//! [`Position`] it covers, and [`ShardCache::restore`] applies it to a fresh cache. When a
//! session cannot be resumed, a [`Rebuild`] compares the state held before with the new
//! session's GUILD_CREATEs and makes up the update events that tell the difference.
//!
//! Reads: single objects in `shard`, and in `query` member pages and searches (by name
//! prefix, role and presence, on per-guild indexes built on first use), users and the
//! guilds they share, message pages; computed permissions in `permissions`; an estimate of
//! the memory held in `memory`; in `client`, what a gateway client of the bot would get from
//! Discord (GUILD_CREATE scoped by its intents and `large_threshold`, op 8 member requests).
//!
//! No I/O and no async runtime: the gateway owns the cache and calls it from its shard loop.

mod client;
mod config;
mod diff;
mod error;
mod events;
mod id;
mod lazy;
mod member;
mod memory;
mod permissions;
mod presence;
mod query;
mod rebuild;
mod rest;
mod scan;
mod search;
mod shard;
mod snapshot;
mod text;
mod user;

pub use client::{GuildScope, MemberAnswer, MemberRequest, PRESENCES_UP_TO};
pub use config::{CacheConfig, DEFAULT_SNAPSHOT_INTERVAL};
pub use diff::Synthesized;
pub use error::CacheError;
pub use id::Id;
pub use permissions::{ADMINISTRATOR, ALL, PermissionsMiss, READ_MESSAGE_HISTORY, VIEW_CHANNEL};
pub use query::{MemberQuery, PresenceStatus};
pub use rebuild::{Rebuild, RebuildReport};
pub use shard::{CacheCounts, ShardCache};
pub use snapshot::{Position, Restored, SNAPSHOT_VERSION};
