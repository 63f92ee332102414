//! READY, GUILD_CREATE, GUILD_UPDATE and GUILD_DELETE: guilds, and everything GUILD_CREATE
//! carries.

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map as JsonMap, Value};

use super::guild_create::{GuildCreate, with_guild_id};
use crate::error::CacheError;
use crate::id::Id;
use crate::member::MemberIn;
use crate::presence::PresenceIn;
use crate::shard::{Channel, GUILD_LISTS, Guild, ShardCache, Stored, to_raw};
use crate::user::UserIn;

#[derive(Deserialize)]
pub(super) struct Ready<'a> {
    #[serde(borrow)]
    user: UserIn<'a>,
    #[serde(borrow, default)]
    application: Option<&'a RawValue>,
    #[serde(default)]
    guilds: Vec<Unavailable>,
}

/// The ids of an object of one of GUILD_CREATE's lists.
#[derive(Deserialize)]
struct ObjectIds {
    id: Id,
    #[serde(default)]
    guild_id: Option<Id>,
}

#[derive(Deserialize)]
pub(super) struct Unavailable {
    id: Id,
    #[serde(default)]
    unavailable: bool,
}

/// READY: the bot's user and application, and its guilds, unavailable until their
/// GUILD_CREATE.
pub(super) fn ready(
    cache: &mut ShardCache,
    ready: Ready<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    cache.own_user = Some(ready.user.into_user(&mut cache.rests));
    if let Some(application) = ready.application {
        cache.application = Some(application.to_owned());
    }
    for g in ready.guilds {
        cache.guilds.entry(g.id).or_default().unavailable = true;
    }
    Ok(None)
}

/// GUILD_CREATE: a guild as it is now (first seen, available again, or joined), with its
/// channels, threads, roles and members; or, with `unavailable`, one in an outage.
pub(super) fn create(
    cache: &mut ShardCache,
    event: &str,
    d: GuildCreate<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let id =
        d.id.ok_or_else(|| CacheError::shape(event)(serde::de::Error::missing_field("id")))?;
    if d.unavailable {
        cache.guilds.entry(id).or_default().unavailable = true;
        return Ok(None);
    }
    // Everything that can fail is read before the cache changes.
    let members: Vec<MemberIn<'_>> = if cache.config.members {
        d.members
            .iter()
            .map(|m| super::read(event, m.get()))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    // A guild available again keeps its channels' messages: GUILD_CREATE carries none, and
    // nothing happened to them during the outage that an event will not tell. The messages
    // of channels the new GUILD_CREATE no longer lists go with them.
    let kept: Vec<_> = cache
        .guilds
        .get(&id)
        .map(|g| {
            g.channels
                .iter()
                .filter_map(|c| cache.messages.remove(c).map(|m| (*c, m)))
                .collect()
        })
        .unwrap_or_default();
    let presences: Vec<PresenceIn<'_>> = if cache.config.presences {
        d.presences
            .iter()
            .map(|p| super::read(event, p.get()))
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    let own = if cache.config.guilds {
        Some(RawValue::from_string(d.own).map_err(CacheError::shape(event))?)
    } else {
        None
    };
    remove_guild(cache, id);
    let mut guild = Guild {
        raw: own,
        ..Guild::default()
    };
    if cache.config.channels {
        for ch in d.channels.iter().chain(&d.threads) {
            let Ok(ids) = serde_json::from_str::<ChannelIds>(ch.get()) else {
                continue;
            };
            if let Some(raw) = with_guild_id(ch, ids.guild_id.is_some(), id) {
                guild.channels.insert(ids.id);
                let channel = Channel {
                    guild: Some(id),
                    raw,
                };
                cache.channels.insert(ids.id, channel);
            }
        }
    }
    if cache.config.roles {
        for role in &d.roles {
            if let Ok(r) = serde_json::from_str::<ChannelIds>(role.get()) {
                guild.roles.insert(r.id, (*role).to_owned());
            }
        }
    }
    if cache.config.emojis {
        guild.emojis = d.emojis.map(ToOwned::to_owned);
    }
    if cache.config.stickers {
        guild.stickers = d.stickers.map(ToOwned::to_owned);
    }
    for p in presences {
        let user = p.user;
        guild
            .presences
            .insert(user, p.into_presence(&mut cache.rests));
    }
    if cache.config.voice_states {
        for v in &d.voice_states {
            let Ok(ids) = serde_json::from_str::<VoiceIds>(v.get()) else {
                continue;
            };
            if let Some(raw) = with_guild_id(v, ids.guild_id.is_some(), id) {
                guild
                    .voice_states
                    .insert(ids.user_id, Stored::new(raw.get()));
            }
        }
    }
    for (list, keep, into) in [
        (
            &d.stage_instances,
            cache.config.stage_instances,
            &mut guild.stage_instances,
        ),
        (
            &d.scheduled_events,
            cache.config.scheduled_events,
            &mut guild.scheduled_events,
        ),
    ] {
        if !keep {
            continue;
        }
        for v in list {
            let Ok(ids) = serde_json::from_str::<ObjectIds>(v.get()) else {
                continue;
            };
            if let Some(raw) = with_guild_id(v, ids.guild_id.is_some(), id) {
                into.insert(ids.id, raw);
            }
        }
    }
    for (channel, messages) in kept {
        if guild.channels.contains(&channel) {
            cache.messages.insert(channel, messages);
        }
    }
    cache.guilds.insert(id, guild);
    for m in members {
        super::member::insert(cache, id, m);
    }
    Ok(None)
}

/// The ids of a channel (or of a role: `id` alone).
#[derive(Deserialize)]
struct ChannelIds {
    id: Id,
    #[serde(default)]
    guild_id: Option<Id>,
}

#[derive(Deserialize)]
struct VoiceIds {
    user_id: Id,
    #[serde(default)]
    guild_id: Option<Id>,
}

#[derive(Deserialize)]
pub(super) struct EmojisUpdate {
    guild_id: Id,
    emojis: Box<RawValue>,
}

/// GUILD_EMOJIS_UPDATE: the whole new list; `old` is the list it replaces.
pub(super) fn emojis(
    cache: &mut ShardCache,
    d: EmojisUpdate,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let guild = cache.guilds.entry(d.guild_id).or_default();
    Ok(guild.emojis.replace(d.emojis))
}

#[derive(Deserialize)]
pub(super) struct StickersUpdate {
    guild_id: Id,
    stickers: Box<RawValue>,
}

/// GUILD_STICKERS_UPDATE: the whole new list; `old` is the list it replaces.
pub(super) fn stickers(
    cache: &mut ShardCache,
    d: StickersUpdate,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let guild = cache.guilds.entry(d.guild_id).or_default();
    Ok(guild.stickers.replace(d.stickers))
}

/// The fields only GUILD_CREATE carries ("Guild Create Extra Fields" besides the lists):
/// a GUILD_UPDATE, a plain guild object, leaves them as they were.
const CREATE_ONLY: &[&str] = &["joined_at", "large", "unavailable", "member_count", "lazy"];

/// GUILD_UPDATE: the guild's own fields (and its roles, which it carries too); the fields
/// only GUILD_CREATE carries keep their cached values.
pub(super) fn update(
    cache: &mut ShardCache,
    mut d: JsonMap<String, Value>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let id: Id = take(&mut d, "id", "GUILD_UPDATE")?;
    let roles = d.remove("roles");
    for key in GUILD_LISTS {
        d.remove(*key);
    }
    d.insert("id".into(), Value::String(id.to_string()));
    let guild = cache.guilds.entry(id).or_default();
    let old = if cache.config.guilds {
        let cached: Option<JsonMap<String, Value>> = guild
            .raw
            .as_deref()
            .and_then(|raw| serde_json::from_str(raw.get()).ok());
        for key in CREATE_ONLY {
            if let Some(v) = cached.as_ref().and_then(|c| c.get(*key)) {
                d.entry(*key).or_insert_with(|| v.clone());
            }
        }
        std::mem::replace(&mut guild.raw, to_raw(&d))
    } else {
        None
    };
    if cache.config.roles
        && let Some(Value::Array(roles)) = roles
    {
        guild.roles.clear();
        for role in &roles {
            if let (Some(rid), Some(raw)) = (role.get("id").and_then(id_of), to_raw(role)) {
                guild.roles.insert(rid, raw);
            }
        }
    }
    Ok(old)
}

/// GUILD_DELETE: with `unavailable`, an outage (the state is kept); otherwise the bot left
/// or was removed, and the guild goes with everything of it. `old` is the guild's own fields.
pub(super) fn delete(
    cache: &mut ShardCache,
    d: Unavailable,
) -> Result<Option<Box<RawValue>>, CacheError> {
    if d.unavailable {
        let Some(guild) = cache.guilds.get_mut(&d.id) else {
            return Ok(None);
        };
        guild.unavailable = true;
        return Ok(guild.raw.clone());
    }
    Ok(remove_guild(cache, d.id).and_then(|g| g.raw))
}

/// Counts `delta` more members in the guild's `member_count`, a field only GUILD_CREATE
/// sends, which GUILD_MEMBER_ADD and GUILD_MEMBER_REMOVE change (as twilight-cache-inmemory
/// and discord.py count them). Read and rewritten only on those two events.
pub(super) fn count_members(cache: &mut ShardCache, id: Id, delta: i64) {
    let Some(raw) = cache.guilds.get_mut(&id).and_then(|g| g.raw.as_mut()) else {
        return;
    };
    let Ok(mut fields) = serde_json::from_str::<JsonMap<String, Value>>(raw.get()) else {
        return;
    };
    let Some(n) = fields.get("member_count").and_then(Value::as_u64) else {
        return;
    };
    fields.insert(
        "member_count".into(),
        Value::from(n.saturating_add_signed(delta)),
    );
    if let Some(new) = to_raw(&fields) {
        *raw = new;
    }
}

/// Removes a guild with its channels, their messages, and its members' claims on users.
pub(super) fn remove_guild(cache: &mut ShardCache, id: Id) -> Option<Guild> {
    let guild = cache.guilds.remove(&id)?;
    for cid in &guild.channels {
        cache.channels.remove(cid);
        cache.messages.remove(cid);
    }
    for user in guild.members.keys() {
        super::member::release_user(cache, *user);
    }
    Some(guild)
}

fn take<T: serde::de::DeserializeOwned>(
    d: &mut JsonMap<String, Value>,
    key: &str,
    event: &str,
) -> Result<T, CacheError> {
    serde_json::from_value(d.remove(key).unwrap_or(Value::Null)).map_err(CacheError::shape(event))
}

pub(super) fn id_of(v: &Value) -> Option<Id> {
    match v {
        Value::String(s) => s.parse().ok().map(Id),
        Value::Number(n) => n.as_u64().map(Id),
        _ => None,
    }
}
