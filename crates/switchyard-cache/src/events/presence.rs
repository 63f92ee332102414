//! PRESENCE_UPDATE and VOICE_STATE_UPDATE: what members are doing; presences in their
//! compact form, voice states as Discord sent them.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::presence::PresenceIn;
use crate::scan;
use crate::shard::{ShardCache, Stored, presence_json};

/// PRESENCE_UPDATE: `old` is the presence it replaces. A member gone offline has no
/// presence any more.
pub(super) fn presence(
    cache: &mut ShardCache,
    event: &str,
    d: PresenceIn<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let (user, guild) = (d.user, d.guild_id);
    let guild = guild.ok_or_else(|| CacheError::Shape {
        event: event.to_owned(),
        source: serde::de::Error::missing_field("guild_id"),
    })?;
    let offline = d.status() == Some("offline");
    let new = (!offline).then(|| d.into_presence(&mut cache.rests));
    let presences = &mut cache.guilds.entry(guild).or_default().presences;
    let old = match new {
        Some(new) => presences.insert(user, new),
        None => presences.remove(&user),
    };
    Ok(old.and_then(|p| presence_json(guild, user, &p)))
}

#[derive(Deserialize)]
struct VoiceIds {
    #[serde(default)]
    guild_id: Option<Id>,
    #[serde(default)]
    channel_id: Option<Id>,
    user_id: Id,
}

/// The voice state's ids, from a quick look at its top-level keys.
fn voice_ids(event: &str, data: &str) -> Result<VoiceIds, CacheError> {
    if let Some([guild, channel, Some(user)]) =
        scan::top_level(data, ["guild_id", "channel_id", "user_id"])
        && let Some(user_id) = scan::id(user)
    {
        let id = |raw: Option<&str>| raw.and_then(scan::id);
        let null = |raw: Option<&str>| raw.is_none_or(|r| r == "null");
        if (guild.is_none() || id(guild).is_some()) && (null(channel) || id(channel).is_some()) {
            return Ok(VoiceIds {
                guild_id: id(guild),
                channel_id: id(channel),
                user_id,
            });
        }
    }
    super::read(event, data)
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
    let ids = voice_ids(event, data)?;
    let Some(guild) = ids.guild_id else {
        return Ok(None);
    };
    let states = &mut cache.guilds.entry(guild).or_default().voice_states;
    let old = if ids.channel_id.is_none() {
        states.remove(&ids.user_id)
    } else {
        let stored = match without_member(event, data)? {
            Some(text) => Stored::new(&text),
            None => Stored::new(data),
        };
        states.insert(ids.user_id, stored)
    };
    Ok(old.and_then(|s| s.to_raw()))
}

/// A voice state's text without the `member` it carries, when it carries one.
fn without_member(event: &str, data: &str) -> Result<Option<String>, CacheError> {
    if !matches!(scan::top_level(data, ["member"]), Some([Some(_)]) | None) {
        return Ok(None);
    }
    let mut state: serde_json::Map<String, serde_json::Value> = super::read(event, data)?;
    Ok(state
        .remove("member")
        .and_then(|_| serde_json::to_string(&state).ok()))
}
