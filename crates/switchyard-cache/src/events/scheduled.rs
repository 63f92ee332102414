//! STAGE_INSTANCE_* and GUILD_SCHEDULED_EVENT_*: a guild's stage instances and scheduled
//! events, kept by id as Discord sent them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::shard::{Guild, Map, ShardCache};

/// Which of a guild's keyed lists an event concerns.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    StageInstance,
    ScheduledEvent,
}

impl Kind {
    fn of(self, guild: &mut Guild) -> &mut Map<Id, Box<RawValue>> {
        match self {
            Kind::StageInstance => &mut guild.stage_instances,
            Kind::ScheduledEvent => &mut guild.scheduled_events,
        }
    }
}

#[derive(Deserialize)]
struct Ids {
    id: Id,
    guild_id: Id,
}

/// *_CREATE and *_UPDATE carry the whole object; `old` is the one it replaces.
pub(super) fn upsert(
    cache: &mut ShardCache,
    kind: Kind,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: Ids = super::read(event, data)?;
    let raw = super::raw(event, data)?;
    let guild = cache.guilds.entry(ids.guild_id).or_default();
    Ok(kind.of(guild).insert(ids.id, raw))
}

/// *_DELETE carries the whole object too; `old` is the cached one.
pub(super) fn delete(
    cache: &mut ShardCache,
    kind: Kind,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: Ids = super::read(event, data)?;
    Ok(cache
        .guilds
        .get_mut(&ids.guild_id)
        .and_then(|g| kind.of(g).remove(&ids.id)))
}
