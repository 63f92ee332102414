//! GUILD_MEMBER_*, GUILD_MEMBERS_CHUNK and USER_UPDATE: members, and the users they share.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::CacheError;
use crate::id::Id;
use crate::member::{MemberIn, MemberUpdate, User};
use crate::shard::{Guild, ShardCache, SharedUser, to_raw};

/// Caches `m` as a member of `guild`, its user once for every guild; true when it was not
/// a cached member yet.
pub(super) fn insert(cache: &mut ShardCache, guild: Id, m: MemberIn) -> bool {
    let user = m.user.id;
    let members = &mut cache.guilds.entry(guild).or_default().members;
    let new = members.insert(user, m.member).is_none();
    let renamed = match cache.users.get_mut(&user) {
        Some(shared) => {
            let renamed = shared.user.username != m.user.username
                || shared.user.global_name != m.user.global_name;
            shared.user = m.user;
            shared.members += u32::from(new);
            renamed
        }
        None => {
            cache.users.insert(
                user,
                SharedUser {
                    user: m.user,
                    members: 1,
                },
            );
            false
        }
    };
    index_names(cache, guild, user, renamed);
    new
}

/// Adds a member's names to its guild's search index (when the guild has one) and, when its
/// user was renamed, to those of the other guilds it is in.
fn index_names(cache: &mut ShardCache, guild: Id, user: Id, renamed: bool) {
    let Some(shared) = cache.users.get(&user) else {
        return;
    };
    let add = |g: &mut Guild| {
        if let (Some(index), Some(member)) = (&mut g.names, g.members.get(&user)) {
            index.add(&shared.user, member);
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

#[derive(Deserialize)]
pub(super) struct MemberAdd {
    guild_id: Id,
    #[serde(flatten)]
    member: MemberIn,
}

/// GUILD_MEMBER_ADD: one more member in the guild's `member_count`, unless the member was
/// known already ("this event may also be sent for users who are already members").
pub(super) fn add(
    cache: &mut ShardCache,
    d: MemberAdd,
) -> Result<Option<Box<RawValue>>, CacheError> {
    if insert(cache, d.guild_id, d.member) {
        super::guild::count_members(cache, d.guild_id, 1);
    }
    Ok(None)
}

/// GUILD_MEMBER_UPDATE: the fields it carries over the cached member; `old` is the member
/// (with its user) as it was.
pub(super) fn update(
    cache: &mut ShardCache,
    d: MemberUpdate,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let (guild, user) = (d.guild_id, d.user.id);
    let cached = cache.guilds.get(&guild).and_then(|g| g.members.get(&user));
    let old = cached.and_then(|m| cache.member_json(user, m));
    let new_user = d.user.clone();
    let member = d.apply(cached);
    insert(
        cache,
        guild,
        MemberIn {
            user: new_user,
            member,
        },
    );
    Ok(old)
}

#[derive(Deserialize)]
pub(super) struct MemberRemove {
    guild_id: Id,
    user: User,
}

/// GUILD_MEMBER_REMOVE: `old` is the member as it was; one fewer in the guild's
/// `member_count`, cached member or not. Its presence in the guild goes too: a presence is
/// "a user's current state on a guild", and Discord sends no offline PRESENCE_UPDATE for a
/// user who left (discord.py drops the presence with the member).
pub(super) fn remove(
    cache: &mut ShardCache,
    d: MemberRemove,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let user = d.user.id;
    super::guild::count_members(cache, d.guild_id, -1);
    let Some(member) = cache.guilds.get_mut(&d.guild_id).and_then(|g| {
        if let Some(index) = &mut g.names {
            index.removed();
        }
        g.presences.remove(&user);
        g.members.remove(&user)
    }) else {
        return Ok(None);
    };
    let old = cache.member_json(user, &member);
    release_user(cache, user);
    Ok(old)
}

#[derive(Deserialize)]
pub(super) struct MembersChunk {
    guild_id: Id,
    #[serde(default)]
    members: Vec<MemberIn>,
}

/// GUILD_MEMBERS_CHUNK: members asked for with op 8.
pub(super) fn chunk(
    cache: &mut ShardCache,
    d: MembersChunk,
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
    user: User,
) -> Result<Option<Box<RawValue>>, CacheError> {
    let old = cache.own_user.replace(user);
    Ok(old.as_ref().and_then(to_raw))
}
