//! Reads of one bot's shard caches as this node holds them: what the admin listener's cache
//! API answers. Each read says which shard answered and the last sequence its cache read, so
//! that a reader can join the snapshot to the live stream.

mod merge;
mod query;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use switchyard_cache::ShardCache;
use switchyard_core::outbound::shard_of;

pub use query::CacheQuery;

use crate::locator::ShardLocator;
use crate::shards::ShardSet;

/// The caches of one bot's shards on this node.
#[derive(Clone)]
pub struct CacheView {
    bot: String,
    shards: Arc<ShardSet>,
    /// In a shard pool: where the other nodes' shards answer.
    locator: Option<ShardLocator>,
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CacheRead {
    /// The shard whose cache answered.
    pub shard: u32,
    /// The sequence of the last dispatch that cache read, in the shard's current session.
    pub seq: Option<u64>,
    /// What was asked for, in Discord's shape.
    pub data: Value,
    /// For a user's query, which every shard answers a part of: the other shards whose
    /// caches contributed, with their sequences.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<ShardSeq>,
}

/// A shard and the last sequence its cache read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShardSeq {
    /// The shard.
    pub shard: u32,
    /// The sequence of the last dispatch its cache read.
    pub seq: Option<u64>,
}

/// Why a read has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheMiss {
    /// The bot keeps no cache.
    #[error("the cache is off: set [gateway.cache] enabled = true")]
    Off,
    /// The guild's shard runs on another node (or none).
    #[error("shard {shard} (guild {guild}) does not run on this node{}", holder.as_ref().map_or(String::new(), |h| format!(" but at {h}")))]
    NotHere {
        /// The guild's shard.
        shard: u32,
        /// The guild.
        guild: u64,
        /// The admin listener of the pool node that runs it, when one said so.
        holder: Option<String>,
    },
    /// The guild's shard has not been ready yet: its cache is still empty.
    #[error("shard {shard} is not ready yet; its cache fills when it is")]
    NotReady {
        /// The guild's shard.
        shard: u32,
    },
    /// No such object in the cache: `Guild`, `Channel`, `Member`, `Role`, `Message`…
    #[error("Unknown {0}")]
    Unknown(&'static str),
}

impl CacheMiss {
    /// Discord's JSON error code for an unknown object (10004 guild, 10003 channel, 10007
    /// member, …).
    pub fn discord_code(&self) -> Option<u32> {
        match self {
            CacheMiss::Unknown(what) => match *what {
                "Channel" => Some(10003),
                "Guild" => Some(10004),
                "Member" => Some(10007),
                "Message" => Some(10008),
                "Role" => Some(10011),
                "User" => Some(10013),
                "Voice State" => Some(10065),
                _ => None,
            },
            _ => None,
        }
    }
}

impl CacheView {
    pub(crate) fn new(bot: String, shards: Arc<ShardSet>) -> Self {
        CacheView {
            bot,
            shards,
            locator: None,
        }
    }

    /// The admin listeners of the pool's other nodes (none outside a pool), which answer
    /// their parts of a user's queries.
    pub fn peers(&self) -> Vec<String> {
        self.locator
            .as_ref()
            .map_or_else(Vec::new, ShardLocator::others)
    }

    /// This view, knowing where the pool's other nodes run their shards.
    pub fn with_locator(mut self, locator: ShardLocator) -> Self {
        self.locator = Some(locator);
        self
    }

    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Answers `query` from the cache of the shard holding its guild, or, for a user,
    /// from every shard's cache on this node.
    pub fn query(&self, query: &CacheQuery) -> Result<CacheRead, CacheMiss> {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let mut read = match query.guild() {
            Some(guild) => self.read(guild, |c| query.answer(c, now_ms)),
            None => self
                .read_all(|c| query.answer(c, now_ms))
                .and_then(|reads| query.merge(reads).ok_or(CacheMiss::Unknown("User"))),
        }?;
        if let (CacheQuery::Identity, Value::Object(o)) = (query, &mut read.data) {
            let ctx = self.shards.ctx();
            o.insert("intents".into(), ctx.config.intents.bits().into());
            o.insert("shards".into(), ctx.total.into());
        }
        Ok(read)
    }

    /// What each shard's cache on this node holds.
    pub fn counts(&self) -> Result<Value, CacheMiss> {
        let list = self
            .shards
            .list()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut shards = Vec::new();
        for status in list.iter() {
            let Some(cache) = status.cache() else {
                return Err(CacheMiss::Off);
            };
            let cached = crate::cache_feed::read(cache);
            shards.push(serde_json::json!({
                "shard": status.id,
                "seq": cached.seq,
                "counts": cached.cache.counts(),
            }));
        }
        Ok(serde_json::json!({"bot": self.bot, "shards": shards}))
    }

    /// `f` on the cache of `guild`'s shard.
    fn read(
        &self,
        guild: u64,
        f: impl FnOnce(&ShardCache) -> Result<Value, CacheMiss>,
    ) -> Result<CacheRead, CacheMiss> {
        let shard = shard_of(guild, self.shards.ctx().total);
        let status = {
            let list = self
                .shards
                .list()
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            list.iter()
                .find(|s| s.id == shard)
                .cloned()
                .ok_or_else(|| CacheMiss::NotHere {
                    shard,
                    guild,
                    holder: self.locator.as_ref().and_then(|l| l.admin_of(shard)),
                })?
        };
        let cache = status.cache().ok_or(CacheMiss::Off)?;
        if !status.has_been_ready() {
            return Err(CacheMiss::NotReady { shard });
        }
        let cached = crate::cache_feed::read(cache);
        let data = f(&cached.cache)?;
        Ok(CacheRead {
            shard,
            seq: cached.seq,
            data,
            more: Vec::new(),
        })
    }

    /// `f` on every shard's cache on this node (the shards that answer: a cache that is not
    /// ready has nothing to say), to be merged.
    fn read_all(
        &self,
        mut f: impl FnMut(&ShardCache) -> Result<Value, CacheMiss>,
    ) -> Result<Vec<CacheRead>, CacheMiss> {
        let list: Vec<_> = self
            .shards
            .list()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut reads = Vec::new();
        let mut miss = CacheMiss::Off;
        for status in list {
            let cache = status.cache().ok_or(CacheMiss::Off)?;
            let cached = crate::cache_feed::read(cache);
            match f(&cached.cache) {
                Ok(data) => reads.push(CacheRead {
                    shard: status.id,
                    seq: cached.seq,
                    data,
                    more: Vec::new(),
                }),
                Err(CacheMiss::NotReady { .. }) => {
                    miss = CacheMiss::NotReady { shard: status.id };
                }
                Err(m) => miss = m,
            }
        }
        if reads.is_empty() {
            return Err(miss);
        }
        Ok(reads)
    }
}
