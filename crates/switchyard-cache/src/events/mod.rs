//! The events that change the cache, one small home per kind of object, and which events the
//! cache reads at all.

mod channel;
mod guild;
mod guild_create;
mod member;
mod message;
mod presence;
mod role;
mod scheduled;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::shard::ShardCache;
use scheduled::Kind;

impl ShardCache {
    /// Whether the cache reads `event` (the others pass without being parsed).
    pub fn wants(&self, event: &str) -> bool {
        wants(&self.config, event)
    }

    /// Applies one dispatch (`event` with its raw `d`). Returns what the event changed or
    /// removed as it was before, as Discord-shaped JSON, when the cache held it. On an error
    /// the cache is as it was.
    pub fn apply(&mut self, event: &str, data: &str) -> Result<Option<Box<RawValue>>, CacheError> {
        apply(self, event, data)
    }
}

impl CacheConfig {
    /// Whether a cache with this configuration reads `event` (the others pass unparsed).
    pub fn wants(&self, event: &str) -> bool {
        wants(self, event)
    }
}

/// Whether `config` needs `event`.
fn wants(config: &CacheConfig, event: &str) -> bool {
    if !config.enabled {
        return false;
    }
    match event {
        "READY" | "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" | "USER_UPDATE" => true,
        "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "CHANNEL_DELETE" | "THREAD_CREATE"
        | "THREAD_UPDATE" | "THREAD_DELETE" | "THREAD_LIST_SYNC" => config.channels,
        "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" | "GUILD_ROLE_DELETE" => config.roles,
        "GUILD_MEMBER_ADD"
        | "GUILD_MEMBER_UPDATE"
        | "GUILD_MEMBER_REMOVE"
        | "GUILD_MEMBERS_CHUNK" => config.members,
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
            config.messages > 0
        }
        "GUILD_EMOJIS_UPDATE" => config.emojis,
        "GUILD_STICKERS_UPDATE" => config.stickers,
        "PRESENCE_UPDATE" => config.presences,
        "VOICE_STATE_UPDATE" => config.voice_states,
        "STAGE_INSTANCE_CREATE" | "STAGE_INSTANCE_UPDATE" | "STAGE_INSTANCE_DELETE" => {
            config.stage_instances
        }
        "GUILD_SCHEDULED_EVENT_CREATE"
        | "GUILD_SCHEDULED_EVENT_UPDATE"
        | "GUILD_SCHEDULED_EVENT_DELETE" => config.scheduled_events,
        _ => false,
    }
}

/// Applies one event; see [`ShardCache::apply`].
fn apply(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    if !wants(&cache.config, event) {
        return Ok(None);
    }
    match event {
        "READY" => guild::ready(cache, read(event, data)?),
        "GUILD_CREATE" => guild::create(cache, event, read(event, data)?),
        "GUILD_UPDATE" => guild::update(cache, read(event, data)?),
        "GUILD_DELETE" => guild::delete(cache, read(event, data)?),
        "USER_UPDATE" => member::own_user(cache, read(event, data)?),
        "CHANNEL_CREATE" | "THREAD_CREATE" | "CHANNEL_UPDATE" | "THREAD_UPDATE" => {
            channel::upsert(cache, event, data)
        }
        "CHANNEL_DELETE" | "THREAD_DELETE" => channel::delete(cache, read(event, data)?),
        "THREAD_LIST_SYNC" => channel::thread_list_sync(cache, event, read(event, data)?),
        "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE" => role::upsert(cache, read(event, data)?),
        "GUILD_ROLE_DELETE" => role::delete(cache, read(event, data)?),
        "GUILD_MEMBER_ADD" => member::add(cache, read(event, data)?),
        "GUILD_MEMBER_UPDATE" => member::update(cache, read(event, data)?),
        "GUILD_MEMBER_REMOVE" => member::remove(cache, read(event, data)?),
        "GUILD_MEMBERS_CHUNK" => member::chunk(cache, read(event, data)?),
        "MESSAGE_CREATE" => message::create(cache, event, data),
        "MESSAGE_UPDATE" => message::update(cache, event, data),
        "MESSAGE_DELETE" => message::delete(cache, read(event, data)?),
        "MESSAGE_DELETE_BULK" => message::delete_bulk(cache, read(event, data)?),
        "GUILD_EMOJIS_UPDATE" => guild::emojis(cache, read(event, data)?),
        "GUILD_STICKERS_UPDATE" => guild::stickers(cache, read(event, data)?),
        "PRESENCE_UPDATE" => presence::presence(cache, event, read(event, data)?),
        "VOICE_STATE_UPDATE" => presence::voice_state(cache, event, data),
        "STAGE_INSTANCE_CREATE" | "STAGE_INSTANCE_UPDATE" => {
            scheduled::upsert(cache, Kind::StageInstance, event, data)
        }
        "STAGE_INSTANCE_DELETE" => scheduled::delete(cache, Kind::StageInstance, event, data),
        "GUILD_SCHEDULED_EVENT_CREATE" | "GUILD_SCHEDULED_EVENT_UPDATE" => {
            scheduled::upsert(cache, Kind::ScheduledEvent, event, data)
        }
        "GUILD_SCHEDULED_EVENT_DELETE" => {
            scheduled::delete(cache, Kind::ScheduledEvent, event, data)
        }
        _ => Ok(None),
    }
}

/// `data` as `T`, or the error naming `event`.
pub(crate) fn read<'a, T: Deserialize<'a>>(event: &str, data: &'a str) -> Result<T, CacheError> {
    serde_json::from_str(data).map_err(CacheError::shape(event))
}

/// `data` as raw JSON of its own.
pub(crate) fn raw(event: &str, data: &str) -> Result<Box<RawValue>, CacheError> {
    RawValue::from_string(data.to_owned()).map_err(CacheError::shape(event))
}
