//! GUILD_MEMBER_*, GUILD_MEMBERS_CHUNK and USER_UPDATE: members, and the users they share.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::member::{Member, MemberIn};
use crate::shard::{Guild, ShardCache, SharedUser, member_json, to_raw};
use crate::user::{User, UserIn, UserOut};

/// Caches `m` as a member of `guild`, its user once for every guild; true when it was not
/// a cached member yet. A member object without its user (never in the events that carry
/// members) is not kept.
pub(super) fn insert(cache: &mut ShardCache, guild: Id, mut m: MemberIn<'_>) -> bool {
    let Some(user) = m.user.take() else {
        return false;
    };
    let (id, user) = user.into_user(&mut cache.rests);
    let member = m.into_member(&mut cache.rests);
    put(cache, guild, id, user, member)
}

/// Keeps `member` of `guild` and its user; true when it was not a cached member yet.
fn put(cache: &mut ShardCache, guild: Id, id: Id, user: User, member: Member) -> bool {
    let g = cache.guilds.entry(guild).or_default();
    let new = g.members.insert(id, member).is_none();
    if let (true, Some(ids)) = (new, g.ids.get_mut()) {
        ids.insert(id);
    }
    let renamed = set_user(cache, id, user, new);
    index_names(cache, guild, id, renamed);
    new
}

/// Keeps `user`, which one more cached member refers to when `new`; true when its names
/// changed.
fn set_user(cache: &mut ShardCache, id: Id, user: User, new: bool) -> bool {
    match cache.users.get_mut(&id) {
        Some(shared) => {
            let renamed = shared.user.username() != user.username()
                || shared.user.global_name() != user.global_name();
            shared.user = user;
            shared.members += u32::from(new);
            renamed
        }
        None => {
            cache.users.insert(id, SharedUser { user, members: 1 });
            false
        }
    }
}

/// Adds a member's names to its guild's search index (when the guild has one) and, when its
/// user was renamed, to those of the other guilds it is in.
fn index_names(cache: &mut ShardCache, guild: Id, user: Id, renamed: bool) {
    let Some(shared) = cache.users.get(&user) else {
        return;
    };
    let add = |g: &mut Guild| {
        if let (Some(index), Some(member)) = (g.names.get_mut(), g.members.get(&user)) {
            index.add(user, &shared.user, member);
        }
    };
    if renamed {
        cache.guilds.values_mut().for_each(add);
    } else if let Some(g) = cache.guilds.get_mut(&guild) {
        add(g);
    }
}

/// A member of some guild is gone: its user goes when no other member refers to it.
pub(super) fn release_user(cache: &mut ShardCache, user: Id) {
    if let Some(shared) = cache.users.get_mut(&user) {
        shared.members = shared.members.saturating_sub(1);
        if shared.members == 0 {
            cache.users.remove(&user);
        }
    }
}

/// GUILD_MEMBER_ADD: one more member in the guild's `member_count`, unless the member was
/// known already ("this event may also be sent for users who are already members").
pub(super) fn add(
    cache: &mut ShardCache,
    d: MemberIn<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let guild = d
        .guild_id
        .ok_or_else(|| missing("GUILD_MEMBER_ADD", "guild_id"))?;
    if insert(cache, guild, d) {
        super::guild::count_members(cache, guild, 1);
    }
    Ok(None)
}

/// GUILD_MEMBER_UPDATE: the fields it carries over the cached member; `old` is the member
/// (with its user) as it was.
pub(super) fn update(
    cache: &mut ShardCache,
    mut d: MemberIn<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let guild = d
        .guild_id
        .ok_or_else(|| missing("GUILD_MEMBER_UPDATE", "guild_id"))?;
    let user = d
        .user
        .take()
        .ok_or_else(|| missing("GUILD_MEMBER_UPDATE", "user"))?;
    let (id, user) = user.into_user(&mut cache.rests);
    let members = &mut cache.guilds.entry(guild).or_default().members;
    let Some(cached) = members.get_mut(&id) else {
        let member = d.into_member(&mut cache.rests);
        put(cache, guild, id, user, member);
        return Ok(None);
    };
    // Merged in place: the cached member is not copied.
    let old = member_json(&cache.users, id, cached);
    cached.merge(d, &mut cache.rests);
    let renamed = set_user(cache, id, user, false);
    index_names(cache, guild, id, renamed);
    Ok(old)
}

#[derive(Deserialize)]
pub(super) struct MemberRemove<'a> {
    guild_id: Id,
    #[serde(borrow)]
    user: UserIn<'a>,
}

/// GUILD_MEMBER_REMOVE: `old` is the member as it was; one fewer in the guild's
/// `member_count`, cached member or not. Its presence in the guild goes too, whether or not
/// the cache held the member: a presence is "a user's current state on a guild", and
/// Discord sends no offline PRESENCE_UPDATE for a user who left (discord.py drops the
/// presence with the member).
pub(super) fn remove(
    cache: &mut ShardCache,
    d: MemberRemove<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let user = d.user.id;
    super::guild::count_members(cache, d.guild_id, -1);
    let Some(guild) = cache.guilds.get_mut(&d.guild_id) else {
        return Ok(None);
    };
    guild.presences.remove(&user);
    if let Some(index) = guild.names.get_mut() {
        index.removed();
    }
    if let Some(ids) = guild.ids.get_mut() {
        ids.remove(&user);
    }
    let Some(member) = guild.members.remove(&user) else {
        return Ok(None);
    };
    let old = cache.member_json(user, &member);
    release_user(cache, user);
    Ok(old)
}

#[derive(Deserialize)]
pub(super) struct MembersChunk<'a> {
    guild_id: Id,
    #[serde(default, borrow)]
    members: Vec<MemberIn<'a>>,
}

/// GUILD_MEMBERS_CHUNK: members asked for with op 8.
pub(super) fn chunk(
    cache: &mut ShardCache,
    d: MembersChunk<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    for m in d.members {
        insert(cache, d.guild_id, m);
    }
    Ok(None)
}

/// USER_UPDATE: the bot's own user (other users change through member events); `old` is
/// the user as it was.
pub(super) fn own_user(
    cache: &mut ShardCache,
    user: UserIn<'_>,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let user = user.into_user(&mut cache.rests);
    let old = cache.own_user.replace(user);
    Ok(old.and_then(|(id, user)| to_raw(&UserOut { id, user: &user })))
}

fn missing(event: &str, field: &'static str) -> CacheError {
    CacheError::Shape {
        event: event.to_owned(),
        source: serde::de::Error::missing_field(field),
    }
}
