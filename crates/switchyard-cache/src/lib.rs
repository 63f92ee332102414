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
//!   roles, emoji and sticker lists: as Discord sent them, raw JSON, since there are few of
//!   them per guild; voice states, raw too;
//! - members, users (once however many guilds they share) and presences, in compact forms of
//!   their own (there may be millions), each written back as it came;
//! - the last N messages of each channel, raw.
//!
//! Discord's rules, event by event: a GUILD_MEMBER_UPDATE carries some fields only and the
//! absent ones keep their cached values; a MESSAGE_UPDATE may carry a subset of the message,
//! merged over the cached one; USER_UPDATE concerns the bot's own user; a guild that becomes
//! unavailable keeps its cached state until it is deleted for good.
//!
//! No I/O and no async runtime: the gateway owns the cache and calls it from its shard loop.

mod config;
mod error;
mod events;
mod id;
mod member;
mod presence;
mod rest;
mod scan;
mod shard;
mod text;
mod user;

pub use config::CacheConfig;
pub use error::CacheError;
pub use id::Id;
pub use shard::{CacheCounts, ShardCache};
