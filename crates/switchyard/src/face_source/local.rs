//! [`LocalSource`]: the face's state read from the gateway's caches in this process.

use async_trait::async_trait;
use switchyard_face::{
    BotIdentity, GuildCreateScope, GuildEntry, GuildSnapshot, MemberAnswer, MemberLookup,
    SourceError, StateSource,
};
use switchyard_gateway::{CacheMiss, CacheQuery, CacheRead, CacheView};

/// The caches of one bot's shards in this process. It answers for the shards this process
/// runs: in a shard pool, a face reads the pool through [`super::RemoteSource`] instead.
#[derive(Clone)]
pub struct LocalSource {
    view: CacheView,
}

impl LocalSource {
    /// A source over `view` (`RunningGateway::cache_view`).
    pub fn new(view: CacheView) -> Self {
        LocalSource { view }
    }

    /// `query` answered off the async workers: a large guild's GUILD_CREATE is written
    /// under its shard's cache lock, which no async task should wait on.
    async fn ask(&self, query: CacheQuery) -> Result<CacheRead, SourceError> {
        let guild = query.guild();
        let view = self.view.clone();
        tokio::task::spawn_blocking(move || view.query(&query))
            .await
            .map_err(|e| SourceError::Unavailable(format!("the cache read failed: {e}")))?
            .map_err(|miss| missed(miss, guild))
    }
}

/// A miss of the caches as the face's error.
fn missed(miss: CacheMiss, guild: Option<u64>) -> SourceError {
    match (miss, guild) {
        (CacheMiss::NotReady { .. }, _) => SourceError::NotReady,
        (CacheMiss::Unknown("Guild"), Some(guild)) => SourceError::UnknownGuild(guild),
        (miss, _) => SourceError::Unavailable(miss.to_string()),
    }
}

#[async_trait]
impl StateSource for LocalSource {
    async fn identity(&self) -> Result<BotIdentity, SourceError> {
        super::identity(&self.ask(CacheQuery::Identity).await?.data)
    }

    async fn guilds(&self) -> Result<Vec<GuildEntry>, SourceError> {
        super::guilds(&self.ask(CacheQuery::Guilds).await?.data)
    }

    async fn guild_create(
        &self,
        guild: u64,
        scope: GuildCreateScope,
    ) -> Result<GuildSnapshot, SourceError> {
        let read = self
            .ask(CacheQuery::GuildCreate {
                guild,
                presences: scope.presences,
                large_threshold: scope.large_threshold,
            })
            .await?;
        super::guild_snapshot(read.shard, read.seq, &read.data)
    }

    async fn members(
        &self,
        guild: u64,
        lookup: &MemberLookup,
    ) -> Result<Option<MemberAnswer>, SourceError> {
        let read = self
            .ask(CacheQuery::RequestMembers {
                guild,
                query: lookup.query.clone(),
                limit: lookup.limit as usize,
                user_ids: lookup.user_ids.clone(),
                presences: lookup.presences,
            })
            .await?;
        super::members(&read.data)
    }
}
