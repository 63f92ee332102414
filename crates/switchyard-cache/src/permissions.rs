//! Computed permissions of a member, in its guild and in one of its channels, by the rules of
//! Discord's documentation ("Permissions": base permissions, overwrites, implicit
//! permissions, and timed-out members).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::id::Id;
use crate::shard::ShardCache;

/// `ADMINISTRATOR`: every permission, overwrites aside.
pub const ADMINISTRATOR: u64 = 1 << 3;
/// `VIEW_CHANNEL`: without it in a channel, no other permission there counts.
pub const VIEW_CHANNEL: u64 = 1 << 10;
const SEND_MESSAGES: u64 = 1 << 11;
const SEND_TTS_MESSAGES: u64 = 1 << 12;
const EMBED_LINKS: u64 = 1 << 14;
const ATTACH_FILES: u64 = 1 << 15;
/// `READ_MESSAGE_HISTORY`: with `VIEW_CHANNEL`, all a timed-out member keeps.
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
const MENTION_EVERYONE: u64 = 1 << 17;

/// Every permission Discord documents (bits 0 to 46, and 49 `SEND_POLLS` to 52
/// `BYPASS_SLOWMODE`): what the owner and administrators have.
pub const ALL: u64 = ((1 << 47) - 1) | (0b1111 << 49);

/// Why permissions could not be computed from what the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PermissionsMiss {
    /// The guild is not cached (or its own fields are not kept: the owner is unknown).
    #[error("unknown guild")]
    Guild,
    /// The member is not cached.
    #[error("unknown member")]
    Member,
    /// The channel is not cached, or is not in this guild.
    #[error("unknown channel")]
    Channel,
}

#[derive(Deserialize)]
struct GuildOwner {
    owner_id: Id,
}

#[derive(Deserialize)]
struct RolePermissions {
    #[serde(deserialize_with = "bits")]
    permissions: u64,
}

#[derive(Deserialize)]
struct ChannelOverwrites {
    #[serde(default)]
    guild_id: Option<Id>,
    #[serde(default)]
    parent_id: Option<Id>,
    #[serde(default, rename = "type")]
    kind: u8,
    #[serde(default)]
    permission_overwrites: Vec<Overwrite>,
}

#[derive(Deserialize)]
struct Overwrite {
    id: Id,
    #[serde(rename = "type")]
    kind: u8,
    #[serde(deserialize_with = "bits")]
    allow: u64,
    #[serde(deserialize_with = "bits")]
    deny: u64,
}

/// Discord writes permission sets as strings of digits.
fn bits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let id = Id::deserialize(d)?;
    Ok(id.0)
}

/// Thread channel types: they take their parent channel's overwrites.
const THREADS: [u8; 3] = [10, 11, 12];

impl ShardCache {
    /// A member's permissions in a guild, or in one of its channels (threads take their
    /// parent's), at `now_unix_ms` (a timeout in force leaves `VIEW_CHANNEL` and
    /// `READ_MESSAGE_HISTORY` only).
    pub fn permissions(
        &self,
        guild: Id,
        user: Id,
        channel: Option<Id>,
        now_unix_ms: u64,
    ) -> Result<u64, PermissionsMiss> {
        let g = self.guilds.get(&guild).ok_or(PermissionsMiss::Guild)?;
        let owner: GuildOwner = parse(g.raw.as_deref()).ok_or(PermissionsMiss::Guild)?;
        let member = g.members.get(&user).ok_or(PermissionsMiss::Member)?;
        let overwrites = match channel {
            Some(id) => Some(self.overwrites(guild, id)?),
            None => None,
        };
        if owner.owner_id == user {
            return Ok(ALL);
        }
        let role = |id: &Id| {
            parse::<RolePermissions>(g.roles.get(id).map(|r| &**r)).map_or(0, |r| r.permissions)
        };
        let mut base = role(&guild);
        for r in member.roles() {
            base |= role(r);
        }
        if base & ADMINISTRATOR != 0 {
            return Ok(ALL);
        }
        let mut perms = match overwrites {
            Some(overwrites) => apply_overwrites(base, &overwrites, guild, user, member.roles()),
            None => base,
        };
        if member
            .timeout_until_ms()
            .is_some_and(|until| until > now_unix_ms)
        {
            perms &= VIEW_CHANNEL | READ_MESSAGE_HISTORY;
        }
        Ok(perms)
    }

    /// The overwrites that apply in `channel` of `guild`: its own, or its parent's for a
    /// thread.
    fn overwrites(&self, guild: Id, channel: Id) -> Result<Vec<Overwrite>, PermissionsMiss> {
        let read = |id: Id| -> Result<ChannelOverwrites, PermissionsMiss> {
            let c = self.channels.get(&id).ok_or(PermissionsMiss::Channel)?;
            let parsed: ChannelOverwrites = parse(Some(&c.raw)).ok_or(PermissionsMiss::Channel)?;
            if c.guild.or(parsed.guild_id) != Some(guild) {
                return Err(PermissionsMiss::Channel);
            }
            Ok(parsed)
        };
        let own = read(channel)?;
        if THREADS.contains(&own.kind) {
            let parent = own.parent_id.ok_or(PermissionsMiss::Channel)?;
            return Ok(read(parent)?.permission_overwrites);
        }
        Ok(own.permission_overwrites)
    }
}

/// Overwrites in Discord's order: `@everyone`'s, then the member's roles' together, then
/// the member's own; then the implicit rules.
fn apply_overwrites(base: u64, overwrites: &[Overwrite], guild: Id, user: Id, roles: &[Id]) -> u64 {
    let mut perms = base;
    if let Some(o) = overwrites.iter().find(|o| o.kind == 0 && o.id == guild) {
        perms = (perms & !o.deny) | o.allow;
    }
    let (mut allow, mut deny) = (0, 0);
    for o in overwrites
        .iter()
        .filter(|o| o.kind == 0 && o.id != guild && roles.contains(&o.id))
    {
        allow |= o.allow;
        deny |= o.deny;
    }
    perms = (perms & !deny) | allow;
    if let Some(o) = overwrites.iter().find(|o| o.kind == 1 && o.id == user) {
        perms = (perms & !o.deny) | o.allow;
    }
    if perms & VIEW_CHANNEL == 0 {
        return 0;
    }
    if perms & SEND_MESSAGES == 0 {
        perms &= !(MENTION_EVERYONE | SEND_TTS_MESSAGES | ATTACH_FILES | EMBED_LINKS);
    }
    perms
}

fn parse<'a, T: Deserialize<'a>>(raw: Option<&'a RawValue>) -> Option<T> {
    serde_json::from_str(raw?.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CacheConfig;

    const GUILD: &str = r#"{"id":"1","name":"g","owner_id":"9","roles":[
        {"id":"1","name":"@everyone","permissions":"1024"},
        {"id":"2","name":"writers","permissions":"2048"},
        {"id":"3","name":"admins","permissions":"8"}],
      "channels":[
        {"id":"10","type":0,"name":"open","permission_overwrites":[]},
        {"id":"11","type":0,"name":"hidden","permission_overwrites":[
            {"id":"1","type":0,"allow":"0","deny":"1024"},
            {"id":"2","type":0,"allow":"1024","deny":"0"},
            {"id":"5","type":1,"allow":"0","deny":"2048"}]}],
      "threads":[{"id":"12","type":11,"parent_id":"11","name":"t"}],
      "members":[
        {"user":{"id":"5","username":"w"},"roles":["2"]},
        {"user":{"id":"6","username":"r"},"roles":[]},
        {"user":{"id":"7","username":"a"},"roles":["3"]},
        {"user":{"id":"8","username":"m"},"roles":["2"],"communication_disabled_until":"2100-01-01T00:00:00+00:00"},
        {"user":{"id":"9","username":"o"},"roles":[]}]}"#;

    fn cache() -> ShardCache {
        let mut c = ShardCache::new(CacheConfig::all());
        c.apply("GUILD_CREATE", GUILD).expect("guild");
        c
    }

    #[test]
    fn base_permissions_are_everyone_and_the_members_roles() {
        let c = cache();
        let p = |u| c.permissions(Id(1), Id(u), None, 0).expect("perms");
        assert_eq!(p(5), VIEW_CHANNEL | SEND_MESSAGES);
        assert_eq!(p(6), VIEW_CHANNEL);
        assert_eq!(p(7), ALL, "administrator");
        assert_eq!(p(9), ALL, "owner");
    }

    #[test]
    fn overwrites_apply_everyone_then_roles_then_the_member() {
        let c = cache();
        let p = |u, ch| c.permissions(Id(1), Id(u), Some(Id(ch)), 0).expect("perms");
        assert_eq!(p(6, 11), 0, "@everyone denied view: nothing else counts");
        assert_eq!(
            p(5, 11),
            VIEW_CHANNEL,
            "role allows view, member denied send"
        );
        assert_eq!(
            p(5, 12),
            VIEW_CHANNEL,
            "a thread takes its parent's overwrites"
        );
        assert_eq!(p(7, 11), ALL, "administrators pass overwrites");
    }

    #[test]
    fn a_timeout_leaves_view_and_history_only_until_it_ends() {
        let c = cache();
        assert_eq!(
            c.permissions(Id(1), Id(8), None, 0).expect("perms"),
            VIEW_CHANNEL
        );
        let after = 4_200_000_000_000;
        assert_eq!(
            c.permissions(Id(1), Id(8), None, after).expect("perms"),
            VIEW_CHANNEL | SEND_MESSAGES
        );
    }

    #[test]
    fn what_the_cache_lacks_is_named() {
        let c = cache();
        assert_eq!(
            c.permissions(Id(2), Id(5), None, 0),
            Err(PermissionsMiss::Guild)
        );
        assert_eq!(
            c.permissions(Id(1), Id(4), None, 0),
            Err(PermissionsMiss::Member)
        );
        assert_eq!(
            c.permissions(Id(1), Id(5), Some(Id(99)), 0),
            Err(PermissionsMiss::Channel)
        );
    }
}
