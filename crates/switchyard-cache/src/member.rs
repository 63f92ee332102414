//! Members in a compact form of their own (there may be millions): roles, join time, flags
//! and which keys Discord sent inline; the fields most members leave null (nickname, guild
//! avatar and banner, boosting, timeout) and anything not modelled in a box of their own.
//! Read from Discord's member objects in one pass, written back in Discord's shape with
//! every field as it came.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::id::Id;
use crate::rest::{Interner, Key, Leftovers, Rest};
use crate::text::{ImageHash, Time};
use crate::user::{User, UserIn, UserOut};

/// A member of one guild, without its user (kept apart, see [`User`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Member {
    roles: Box<[Id]>,
    joined_at: Time,
    ext: Option<Box<Ext>>,
    flags: u32,
    /// Values of the booleans and which keys were sent.
    bits: u16,
}

/// What most members leave null.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Ext {
    nick: Option<Box<str>>,
    avatar: Option<ImageHash>,
    banner: Option<ImageHash>,
    premium_since: Time,
    communication_disabled_until: Time,
    rest: Option<Rest>,
}

impl Ext {
    fn is_empty(&self) -> bool {
        *self == Ext::default()
    }
}

const DEAF: u16 = 1;
const MUTE: u16 = 1 << 1;
const PENDING: u16 = 1 << 2;
const K_ROLES: u16 = 1 << 3;
const K_NICK: u16 = 1 << 4;
const K_AVATAR: u16 = 1 << 5;
const K_BANNER: u16 = 1 << 6;
const K_JOINED_AT: u16 = 1 << 7;
const K_PREMIUM_SINCE: u16 = 1 << 8;
const K_DEAF: u16 = 1 << 9;
const K_MUTE: u16 = 1 << 10;
const K_PENDING: u16 = 1 << 11;
const K_FLAGS: u16 = 1 << 12;
const K_TIMEOUT: u16 = 1 << 13;

impl Member {
    fn ext(&self) -> Option<&Ext> {
        self.ext.as_deref()
    }

    fn ext_mut(&mut self) -> &mut Ext {
        self.ext.get_or_insert_default()
    }

    /// The nickname.
    pub fn nick(&self) -> Option<&str> {
        self.ext()?.nick.as_deref()
    }

    /// What the member holds on the heap besides itself (its shared leftovers aside).
    pub fn heap_bytes(&self) -> usize {
        self.roles.len() * size_of::<Id>()
            + self.ext().map_or(0, |e| {
                size_of::<Ext>() + e.nick.as_ref().map_or(0, |n| n.len())
            })
    }

    /// The member's roles.
    pub fn roles(&self) -> &[Id] {
        &self.roles
    }

    /// Takes `role` out of the member's roles, if there.
    pub fn remove_role(&mut self, role: Id) {
        if self.roles.contains(&role) {
            self.roles = self.roles.iter().copied().filter(|r| *r != role).collect();
        }
    }

    /// When the member's timeout ends (milliseconds since 1970), if it has one.
    pub fn timeout_until_ms(&self) -> Option<u64> {
        self.ext()?.communication_disabled_until.unix_ms()
    }

    /// This member with the fields `update` carries laid over it: what the update does not
    /// carry keeps its value (GUILD_MEMBER_UPDATE may carry some fields only).
    pub fn merge(&mut self, update: MemberIn<'_>, interner: &mut Interner) {
        let new = update.member;
        let keys = new.bits & !(DEAF | MUTE | PENDING);
        let m = self;
        let values = if keys & K_DEAF != 0 { DEAF } else { 0 }
            | if keys & K_MUTE != 0 { MUTE } else { 0 }
            | if keys & K_PENDING != 0 { PENDING } else { 0 };
        m.bits = (m.bits & !values) | (new.bits & values) | keys;
        if keys & K_ROLES != 0 {
            m.roles = new.roles;
        }
        if keys & K_JOINED_AT != 0 {
            m.joined_at = new.joined_at;
        }
        if keys & K_FLAGS != 0 {
            m.flags = new.flags;
        }
        let n = new.ext.map(|e| *e).unwrap_or_default();
        let cached_rest = m.ext().and_then(|e| e.rest.clone());
        let rest = interner.merge(cached_rest.as_ref(), update.rest);
        let e = m.ext_mut();
        if keys & K_NICK != 0 {
            e.nick = n.nick;
        }
        if keys & K_AVATAR != 0 {
            e.avatar = n.avatar;
        }
        if keys & K_BANNER != 0 {
            e.banner = n.banner;
        }
        if keys & K_PREMIUM_SINCE != 0 {
            e.premium_since = n.premium_since;
        }
        if keys & K_TIMEOUT != 0 {
            e.communication_disabled_until = n.communication_disabled_until;
        }
        e.rest = rest;
        if e.is_empty() {
            m.ext = None;
        }
    }
}

/// A member object as read: its user and guild when it carries them, the member, and its
/// leftover fields (to intern).
#[derive(Debug)]
pub(crate) struct MemberIn<'de> {
    pub user: Option<UserIn<'de>>,
    pub guild_id: Option<Id>,
    member: Member,
    rest: Leftovers<'de>,
}

impl MemberIn<'_> {
    /// The member, its leftovers interned.
    pub fn into_member(self, interner: &mut Interner) -> Member {
        let mut m = self.member;
        if let Some(rest) = interner.intern(self.rest) {
            m.ext_mut().rest = Some(rest);
        }
        m
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for MemberIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(MemberVisitor(PhantomData))
    }
}

struct MemberVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for MemberVisitor<'a> {
    type Value = MemberIn<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MemberIn<'a>, A::Error> {
        let mut out = MemberIn {
            user: None,
            guild_id: None,
            member: Member::default(),
            rest: Leftovers::default(),
        };
        let m = &mut out.member;
        let mut ext = Ext::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let bit = match key.as_str() {
                "user" => {
                    out.user = Some(map.next_value()?);
                    0
                }
                "guild_id" => {
                    out.guild_id = Some(map.next_value()?);
                    0
                }
                "roles" => {
                    m.roles = map.next_value()?;
                    K_ROLES
                }
                "nick" => {
                    ext.nick = map
                        .next_value::<Option<Key<'de>>>()?
                        .map(|k| k.as_str().into());
                    K_NICK
                }
                "avatar" => {
                    ext.avatar = map.next_value()?;
                    K_AVATAR
                }
                "banner" => {
                    ext.banner = map.next_value()?;
                    K_BANNER
                }
                "joined_at" => {
                    m.joined_at = map.next_value()?;
                    K_JOINED_AT
                }
                "premium_since" => {
                    ext.premium_since = map.next_value()?;
                    K_PREMIUM_SINCE
                }
                "communication_disabled_until" => {
                    ext.communication_disabled_until = map.next_value()?;
                    K_TIMEOUT
                }
                "flags" => {
                    m.flags = map.next_value()?;
                    K_FLAGS
                }
                "deaf" => K_DEAF | if map.next_value()? { DEAF } else { 0 },
                "mute" => K_MUTE | if map.next_value()? { MUTE } else { 0 },
                "pending" => K_PENDING | if map.next_value()? { PENDING } else { 0 },
                _ => {
                    out.rest.push(key, map.next_value()?);
                    0
                }
            };
            m.bits |= bit;
        }
        if !ext.is_empty() {
            m.ext = Some(Box::new(ext));
        }
        Ok(out)
    }
}

/// A member in Discord's shape, with its user when given.
pub(crate) struct MemberOut<'a> {
    pub user: Option<(Id, &'a User)>,
    pub member: &'a Member,
}

impl Serialize for MemberOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let m = self.member;
        let e = m.ext();
        let mut map = s.serialize_map(None)?;
        if let Some((id, user)) = self.user {
            map.serialize_entry("user", &UserOut { id, user })?;
        }
        let has = |k: u16| m.bits & k != 0;
        if has(K_ROLES) {
            map.serialize_entry("roles", &m.roles)?;
        }
        if has(K_NICK) {
            map.serialize_entry("nick", &m.nick())?;
        }
        if has(K_AVATAR) {
            map.serialize_entry("avatar", &e.and_then(|e| e.avatar.as_ref()))?;
        }
        if has(K_BANNER) {
            map.serialize_entry("banner", &e.and_then(|e| e.banner.as_ref()))?;
        }
        if has(K_JOINED_AT) {
            map.serialize_entry("joined_at", &m.joined_at)?;
        }
        if has(K_PREMIUM_SINCE) {
            map.serialize_entry("premium_since", &e.map(|e| e.premium_since))?;
        }
        if has(K_DEAF) {
            map.serialize_entry("deaf", &has(DEAF))?;
        }
        if has(K_MUTE) {
            map.serialize_entry("mute", &has(MUTE))?;
        }
        if has(K_FLAGS) {
            map.serialize_entry("flags", &m.flags)?;
        }
        if has(K_PENDING) {
            map.serialize_entry("pending", &has(PENDING))?;
        }
        if has(K_TIMEOUT) {
            let t = e.map(|e| e.communication_disabled_until);
            map.serialize_entry("communication_disabled_until", &t)?;
        }
        if let Some(rest) = e.and_then(|e| e.rest.as_ref()) {
            rest.serialize_into(&mut map)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const MEMBER: &str = r#"{"user":{"id":"80351110224678912","username":"Nelly","global_name":"Nel","discriminator":"0","avatar":"8342729096ea3675442027381ff50dfe","public_flags":64},"nick":"NOT API SUPPORT","avatar":null,"roles":["41771983423143936"],"joined_at":"2015-04-26T06:26:56.936000+00:00","premium_since":null,"deaf":false,"mute":false,"flags":0,"pending":false,"communication_disabled_until":null}"#;

    fn read(json: &str, interner: &mut Interner) -> (Option<(Id, User)>, Member) {
        let mut m: MemberIn<'_> = serde_json::from_str(json).expect("member");
        let user = m.user.take().map(|u| u.into_user(interner));
        (user, m.into_member(interner))
    }

    fn write(user: Option<&(Id, User)>, member: &Member) -> Value {
        serde_json::to_value(MemberOut {
            user: user.map(|(id, u)| (*id, u)),
            member,
        })
        .expect("json")
    }

    #[test]
    fn a_member_comes_back_as_it_came() {
        let mut i = Interner::default();
        let full = json!({
            "user": {"id": "1", "username": "a", "global_name": "Ä ✨", "discriminator": "0",
                "avatar": null, "public_flags": 0, "flags": 0, "banner": null, "clan": null},
            "roles": ["41771983423143936", "41771983423143937"], "nick": "✨ lily ✨",
            "avatar": "a_8342729096ea3675442027381ff50dfe", "banner": "0123456789abcdef0123456789abcdef",
            "joined_at": "2015-04-26T06:26:56.936000+00:00",
            "premium_since": "2019-01-01T00:00:00.000000+00:00", "deaf": true, "mute": false,
            "flags": 10, "pending": true,
            "communication_disabled_until": "2026-12-24T07:55:45.813000+00:00",
            "avatar_decoration_data": {"asset": "a_1", "sku_id": "2"},
            "unusual_dm_activity_until": null
        });
        for v in [serde_json::from_str::<Value>(MEMBER).expect("json"), full] {
            let (user, member) = read(&v.to_string(), &mut i);
            assert_eq!(write(user.as_ref(), &member), v);
        }
    }

    #[test]
    fn an_update_keeps_what_it_does_not_carry_and_clears_what_it_nulls() {
        let mut i = Interner::default();
        let (_, m) = read(MEMBER, &mut i);
        let up: MemberIn<'_> = serde_json::from_str(
            r#"{"guild_id":"1","user":{"id":"80351110224678912","username":"Nelly"},"roles":[],"nick":null,"extra":1}"#,
        )
        .expect("update");
        let mut after = m;
        after.merge(up, &mut i);
        assert_eq!(after.nick(), None, "null clears");
        assert!(after.roles.is_empty(), "roles replaced");
        let out = write(None, &after);
        assert_eq!(
            out["joined_at"], "2015-04-26T06:26:56.936000+00:00",
            "absent keeps"
        );
        assert_eq!(out["extra"], 1, "new fields are kept");
    }

    #[test]
    fn most_members_need_no_box_beside_them() {
        let mut i = Interner::default();
        let (_, m) = read(MEMBER, &mut i);
        assert!(m.ext.is_some(), "a nickname needs it");
        let plain = MEMBER.replace(r#""NOT API SUPPORT""#, "null");
        let (_, m) = read(&plain, &mut i);
        assert!(m.ext.is_none());
        assert_eq!(size_of::<Member>(), 40);
    }
}
