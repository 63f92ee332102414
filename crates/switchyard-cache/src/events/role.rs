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

/// GUILD_ROLE_DELETE: `old` is the role as it was. The role also leaves every member's role
/// list: Discord sends no GUILD_MEMBER_UPDATE for them, and a member read back (as REST
/// would answer it) has no deleted role. One pass over the guild's members, on a rare event.
pub(super) fn delete(
    cache: &mut ShardCache,
    d: RoleDelete,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let Some(guild) = cache.guilds.get_mut(&d.guild_id) else {
        return Ok(None);
    };
    for member in guild.members.values_mut() {
        member.remove_role(d.role_id);
    }
    Ok(guild.roles.remove(&d.role_id))
}
