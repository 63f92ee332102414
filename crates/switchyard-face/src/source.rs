//! [`StateSource`]: what the face reads of the bot and of its shards' caches. The face never
//! holds Discord state of its own: READY, GUILD_CREATE and member chunks are built from the
//! answers of a source, which is the gateway's cache in the same process (`switchyard run`)
//! or the cache API of a shard pool's admin listeners (`switchyard face`).

use async_trait::async_trait;
use serde_json::value::RawValue;

/// The bot behind the face, as READY describes it and as its gateway runs it.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    /// READY's `user`: the bot's own user object.
    pub user: Box<RawValue>,
    /// The bot's user id.
    pub user_id: u64,
    /// READY's `application`: at least `{"id", "flags"}`.
    pub application: Box<RawValue>,
    /// The intents the upstream shards identified with: a client may ask for these and no
    /// privileged intent beyond them.
    pub intents: u64,
    /// The upstream shard count.
    pub shards: u32,
}

/// One guild of the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuildEntry {
    /// The guild's id.
    pub id: u64,
    /// Whether the guild is in an outage (Discord's `unavailable: true`).
    pub unavailable: bool,
}

/// Which members and presences a GUILD_CREATE carries, from the client's IDENTIFY, applied
/// as Discord documents it:
/// - without GUILD_PRESENCES (or in a guild of over 75,000 members), only the bot and the
///   members in voice channels, and no presences;
/// - with it, every member of a guild of at most `large_threshold` members, else those who
///   are not offline (with the bot and those in voice), and their presences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuildCreateScope {
    /// Whether the client has the GUILD_PRESENCES intent.
    pub presences: bool,
    /// The client's `large_threshold` (50 to 250; Discord's default is 50).
    pub large_threshold: u32,
}

/// A guild as GUILD_CREATE carries it, and where in its shard's stream that state stands.
#[derive(Debug, Clone)]
pub struct GuildSnapshot {
    /// The upstream shard holding the guild.
    pub shard: u32,
    /// The sequence of the last dispatch of that shard its cache had read: the events of the
    /// guild with a sequence above it are not in `payload`.
    pub seq: Option<u64>,
    /// GUILD_CREATE's `d` (`{"id", "unavailable": true}` for a guild in an outage), with
    /// `large` set for the client's `large_threshold`.
    pub payload: Box<RawValue>,
}

/// An op 8 member request, as a client sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberLookup {
    /// Username prefix (any case); `""` with `limit` 0 asks for every member.
    pub query: Option<String>,
    /// The most members to return with `query` (0: no limit, with an empty query).
    pub limit: u32,
    /// Specific members, instead of `query`.
    pub user_ids: Option<Vec<u64>>,
    /// Whether to return their presences.
    pub presences: bool,
}

/// The members answering an op 8 request, before they are cut into chunks.
#[derive(Debug, Clone, Default)]
pub struct MemberAnswer {
    /// Member objects, each with its `user`.
    pub members: Vec<Box<RawValue>>,
    /// Their presences, when asked for (and kept).
    pub presences: Vec<Box<RawValue>>,
    /// Of the ids asked for, those that are not members.
    pub not_found: Vec<u64>,
}

/// Why a source has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The bot's shards have not been ready yet (the first READY has not arrived).
    #[error("the bot is not ready yet")]
    NotReady,
    /// The guild is not one of the bot's.
    #[error("unknown guild {0}")]
    UnknownGuild(u64),
    /// The source cannot answer now (a pool node unreachable, the cache off…): why.
    #[error("{0}")]
    Unavailable(String),
}

/// What the face reads of the bot and its caches. Implemented by the binary: over the
/// gateway's caches in-process, or over the cache API of a pool's admin listeners.
#[async_trait]
pub trait StateSource: Send + Sync + 'static {
    /// The bot, once any of its shards has been ready.
    async fn identity(&self) -> Result<BotIdentity, SourceError>;

    /// Every guild of the bot, on every shard (of every node of a pool), in no order.
    async fn guilds(&self) -> Result<Vec<GuildEntry>, SourceError>;

    /// One guild as GUILD_CREATE carries it for a client of `scope`.
    async fn guild_create(
        &self,
        guild: u64,
        scope: GuildCreateScope,
    ) -> Result<GuildSnapshot, SourceError>;

    /// The members answering an op 8 request from the cache, or `None` when the cache does
    /// not hold the guild's whole member list (the face then asks Discord).
    async fn members(
        &self,
        guild: u64,
        lookup: &MemberLookup,
    ) -> Result<Option<MemberAnswer>, SourceError>;
}
