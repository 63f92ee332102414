//! PRESENCE_UPDATE and VOICE_STATE_UPDATE: what members are doing, kept as Discord sent it.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::shard::ShardCache;

#[derive(Deserialize)]
struct UserRef {
    id: Id,
}

#[derive(Deserialize)]
struct PresenceIds {
    user: UserRef,
    guild_id: Id,
    #[serde(default)]
    status: Option<String>,
}

/// PRESENCE_UPDATE: `old` is the presence it replaces. A member gone offline has no
/// presence any more.
pub(super) fn presence(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: PresenceIds = super::read(event, data)?;
    let presences = &mut cache.guilds.entry(ids.guild_id).or_default().presences;
    if ids.status.as_deref() == Some("offline") {
        return Ok(presences.remove(&ids.user.id));
    }
    let raw = super::raw(event, data)?;
    Ok(presences.insert(ids.user.id, raw))
}

#[derive(Deserialize)]
struct VoiceIds {
    #[serde(default)]
    guild_id: Option<Id>,
    #[serde(default)]
    channel_id: Option<Id>,
    user_id: Id,
}

/// VOICE_STATE_UPDATE: `old` is the state it replaces; a user who left voice (no channel)
/// has no state any more. Voice outside guilds is not kept. The `member` the event carries
/// is not kept with the state (the member is cached once, and would go stale here), so a
/// state reads the same as one from GUILD_CREATE.
pub(super) fn voice_state(
    cache: &mut ShardCache,
    event: &str,
    data: &str,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let ids: VoiceIds = super::read(event, data)?;
    let Some(guild) = ids.guild_id else {
        return Ok(None);
    };
    let states = &mut cache.guilds.entry(guild).or_default().voice_states;
    if ids.channel_id.is_none() {
        return Ok(states.remove(&ids.user_id));
    }
    let mut state: serde_json::Map<String, serde_json::Value> = super::read(event, data)?;
    let raw = match state
        .remove("member")
        .and_then(|_| crate::shard::to_raw(&state))
    {
        Some(without_member) => without_member,
        None => super::raw(event, data)?,
    };
    Ok(states.insert(ids.user_id, raw))
}
