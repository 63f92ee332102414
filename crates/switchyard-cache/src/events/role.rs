//! GUILD_ROLE_*: roles, kept as Discord sent them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::shard::ShardCache;

#[derive(Deserialize)]
pub(super) struct RoleEvent {
    guild_id: Id,
    role: Box<RawValue>,
}

#[derive(Deserialize)]
struct RoleId {
    id: Id,
}

/// GUILD_ROLE_CREATE, GUILD_ROLE_UPDATE: `old` is the role it replaces.
pub(super) fn upsert(
    cache: &mut ShardCache,
    d: RoleEvent,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let RoleId { id } = super::read("GUILD_ROLE_UPDATE", d.role.get())?;
    Ok(cache
        .guilds
        .entry(d.guild_id)
        .or_default()
        .roles
        .insert(id, d.role))
}

#[derive(Deserialize)]
pub(super) struct RoleDelete {
    guild_id: Id,
    role_id: Id,
}

/// GUILD_ROLE_DELETE: `old` is the role as it was.
pub(super) fn delete(
    cache: &mut ShardCache,
    d: RoleDelete,
) -> Result<Option<Box<RawValue>>, CacheError> {
    Ok(cache
        .guilds
        .get_mut(&d.guild_id)
        .and_then(|g| g.roles.remove(&d.role_id)))
}
