//! Reads of one bot's shard caches as this node holds them: what the admin listener's cache
//! API answers. Each read says which shard answered and the last sequence its cache read, so
//! that a reader can join the snapshot to the live stream.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use switchyard_cache::{Id, ShardCache};
use switchyard_core::outbound::shard_of;

use crate::shards::ShardSet;
use crate::status::lock;

/// The caches of one bot's shards on this node.
#[derive(Clone)]
pub struct CacheView {
    bot: String,
    shards: Arc<ShardSet>,
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
}

/// Why a read has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheMiss {
    /// The bot keeps no cache.
    #[error("the cache is off: set [gateway.cache] enabled = true")]
    Off,
    /// The guild's shard runs on another node (or none).
    #[error("shard {shard} (guild {guild}) does not run on this node")]
    NotHere {
        /// The guild's shard.
        shard: u32,
        /// The guild.
        guild: u64,
    },
    /// The guild's shard has not been ready yet: its cache is still empty.
    #[error("shard {shard} is not ready yet; its cache fills when it is")]
    NotReady {
        /// The guild's shard.
        shard: u32,
    },
    /// No such object in the cache: `Guild`, `Channel` or `Member`.
    #[error("Unknown {0}")]
    Unknown(&'static str),
}

impl CacheMiss {
    /// Discord's JSON error code for an unknown object (10004 guild, 10003 channel, 10007
    /// member).
    pub fn discord_code(&self) -> Option<u32> {
        match self {
            CacheMiss::Unknown("Guild") => Some(10004),
            CacheMiss::Unknown("Channel") => Some(10003),
            CacheMiss::Unknown("Member") => Some(10007),
            _ => None,
        }
    }
}

impl CacheView {
    pub(crate) fn new(bot: String, shards: Arc<ShardSet>) -> Self {
        CacheView { bot, shards }
    }

    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// A guild's own fields, with `unavailable` during an outage.
    pub fn guild(&self, guild: u64) -> Result<CacheRead, CacheMiss> {
        self.read(guild, "Guild", |c| {
            let mut value = json(c.guild(Id(guild))?)?;
            if let (Value::Object(o), Some(true)) = (&mut value, c.guild_unavailable(Id(guild))) {
                o.insert("unavailable".into(), Value::Bool(true));
            }
            Some(value)
        })
    }

    /// A guild's channels and threads.
    pub fn channels(&self, guild: u64) -> Result<CacheRead, CacheMiss> {
        self.read(guild, "Guild", |c| {
            c.guild(Id(guild))?;
            list(c.guild_channels(Id(guild)))
        })
    }

    /// A guild's roles.
    pub fn roles(&self, guild: u64) -> Result<CacheRead, CacheMiss> {
        self.read(guild, "Guild", |c| {
            c.guild(Id(guild))?;
            list(c.guild_roles(Id(guild)))
        })
    }

    /// A member of a guild, with its user.
    pub fn member(&self, guild: u64, user: u64) -> Result<CacheRead, CacheMiss> {
        self.read(guild, "Member", |c| json(&c.member(Id(guild), Id(user))?))
    }

    /// The last messages of a guild's channel, oldest first.
    pub fn messages(&self, guild: u64, channel: u64) -> Result<CacheRead, CacheMiss> {
        self.read(guild, "Channel", |c| {
            c.channel(Id(channel))?;
            list(c.messages(Id(channel)))
        })
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
            let cached = lock(cache);
            shards.push(serde_json::json!({
                "shard": status.id,
                "seq": cached.seq,
                "counts": cached.cache.counts(),
            }));
        }
        Ok(serde_json::json!({"bot": self.bot, "shards": shards}))
    }

    /// `f` on the cache of `guild`'s shard; `what` names what `f` finding nothing means.
    fn read(
        &self,
        guild: u64,
        what: &'static str,
        f: impl FnOnce(&ShardCache) -> Option<Value>,
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
                .ok_or(CacheMiss::NotHere { shard, guild })?
        };
        let cache = status.cache().ok_or(CacheMiss::Off)?;
        if !status.has_been_ready() {
            return Err(CacheMiss::NotReady { shard });
        }
        let cached = lock(cache);
        let data = f(&cached.cache).ok_or(CacheMiss::Unknown(what))?;
        Ok(CacheRead {
            shard,
            seq: cached.seq,
            data,
        })
    }
}

fn json(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

fn list(items: Vec<&RawValue>) -> Option<Value> {
    items
        .into_iter()
        .map(json)
        .collect::<Option<Vec<_>>>()
        .map(Value::Array)
}
