//! Users in a compact form of their own (there may be a million, each kept once however
//! many guilds it shares with the bot), read from Discord's user objects in one pass and
//! written back in Discord's shape, every field as it came.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::id::Id;
use crate::rest::{Interner, Key, Leftovers, Rest};
use crate::text::ImageHash;

/// A user, without its id (the key it is kept under): the username and the global name in
/// one string, the avatar as 16 bytes, flags, and what is not modelled in [`Rest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    /// The username, then the global name when there is one.
    names: Box<str>,
    /// The avatar hash when it is one of hex digits (`AVATAR`); any other form is in `rest`.
    avatar: [u8; 16],
    rest: Option<Rest>,
    public_flags: u32,
    flags: u32,
    username_len: u16,
    /// `0` for `"0"`, else the four-digit discriminator plus one.
    discriminator: u16,
    bits: u16,
}

// Values.
const GLOBAL_NAME: u16 = 1;
const AVATAR: u16 = 1 << 1;
const ANIMATED: u16 = 1 << 2;
const BOT: u16 = 1 << 3;
const SYSTEM: u16 = 1 << 4;
// Keys present (a key absent from what Discord sent stays absent in what comes back).
const K_GLOBAL_NAME: u16 = 1 << 5;
const K_AVATAR: u16 = 1 << 6;
const K_DISCRIMINATOR: u16 = 1 << 7;
const K_PUBLIC_FLAGS: u16 = 1 << 8;
const K_FLAGS: u16 = 1 << 9;
const K_BOT: u16 = 1 << 10;
const K_SYSTEM: u16 = 1 << 11;

impl User {
    pub fn username(&self) -> &str {
        &self.names[..usize::from(self.username_len)]
    }

    pub fn global_name(&self) -> Option<&str> {
        (self.bits & GLOBAL_NAME != 0).then(|| &self.names[usize::from(self.username_len)..])
    }

    /// What the user holds on the heap besides itself (its shared leftovers aside).
    pub fn heap_bytes(&self) -> usize {
        self.names.len()
    }

    pub fn bot(&self) -> bool {
        self.bits & BOT != 0
    }
}

/// A user object as read: its id, the user, and its leftover fields (to intern).
#[derive(Debug)]
pub(crate) struct UserIn<'de> {
    pub id: Id,
    user: User,
    rest: Leftovers<'de>,
}

impl UserIn<'_> {
    /// The user, its leftovers interned.
    pub fn into_user(self, interner: &mut Interner) -> (Id, User) {
        let mut user = self.user;
        user.rest = interner.intern(self.rest);
        (self.id, user)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for UserIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(UserVisitor(PhantomData))
    }
}

struct UserVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for UserVisitor<'a> {
    type Value = UserIn<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a user object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UserIn<'a>, A::Error> {
        let mut id = None;
        let mut username: Option<Key<'de>> = None;
        let mut global_name: Option<Key<'de>> = None;
        let mut rest = Leftovers::default();
        let mut u = User {
            names: Box::default(),
            avatar: [0; 16],
            rest: None,
            public_flags: 0,
            flags: 0,
            username_len: 0,
            discriminator: 0,
            bits: 0,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value::<Id>()?),
                "username" => username = Some(map.next_value()?),
                "global_name" => {
                    u.bits |= K_GLOBAL_NAME;
                    global_name = map.next_value()?;
                }
                "discriminator" => {
                    let raw: &'de RawValue = map.next_value()?;
                    match discriminator(raw) {
                        Some(n) => {
                            u.discriminator = n;
                            u.bits |= K_DISCRIMINATOR;
                        }
                        None => rest.push(key, raw),
                    }
                }
                "avatar" => {
                    let raw: &'de RawValue = map.next_value()?;
                    if raw.get() == "null" {
                        u.bits |= K_AVATAR;
                    } else if let Ok(ImageHash::Hex { animated, bytes }) =
                        serde_json::from_str::<ImageHash>(raw.get())
                    {
                        u.avatar = bytes;
                        u.bits |= K_AVATAR | AVATAR | if animated { ANIMATED } else { 0 };
                    } else {
                        rest.push(key, raw);
                    }
                }
                "public_flags" | "flags" => {
                    let raw: &'de RawValue = map.next_value()?;
                    match serde_json::from_str::<u32>(raw.get()) {
                        Ok(v) if key.as_str() == "flags" => {
                            u.flags = v;
                            u.bits |= K_FLAGS;
                        }
                        Ok(v) => {
                            u.public_flags = v;
                            u.bits |= K_PUBLIC_FLAGS;
                        }
                        Err(_) => rest.push(key, raw),
                    }
                }
                "bot" => {
                    u.bits |= K_BOT | if map.next_value()? { BOT } else { 0 };
                }
                "system" => {
                    u.bits |= K_SYSTEM | if map.next_value()? { SYSTEM } else { 0 };
                }
                _ => rest.push(key, map.next_value()?),
            }
        }
        let id = id.ok_or_else(|| de::Error::missing_field("id"))?;
        let username = username.ok_or_else(|| de::Error::missing_field("username"))?;
        let username = username.as_str();
        u.username_len = u16::try_from(username.len())
            .map_err(|_| de::Error::custom("a username longer than 65,535 bytes"))?;
        u.names = match &global_name {
            Some(g) => {
                u.bits |= GLOBAL_NAME;
                let mut s = String::with_capacity(username.len() + g.as_str().len());
                s.push_str(username);
                s.push_str(g.as_str());
                s.into_boxed_str()
            }
            None => username.into(),
        };
        Ok(UserIn { id, user: u, rest })
    }
}

/// `"0"` as 0, a four-digit discriminator as itself plus one; any other form is not read.
fn discriminator(raw: &RawValue) -> Option<u16> {
    let s = raw.get().strip_prefix('"')?.strip_suffix('"')?;
    match s.as_bytes() {
        b"0" => Some(0),
        [a, b, c, d] if [a, b, c, d].iter().all(|x| x.is_ascii_digit()) => {
            Some(s.parse::<u16>().ok()? + 1)
        }
        _ => None,
    }
}

/// A user in Discord's shape.
pub(crate) struct UserOut<'a> {
    pub id: Id,
    pub user: &'a User,
}

impl Serialize for UserOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let u = self.user;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("id", &self.id)?;
        map.serialize_entry("username", u.username())?;
        if u.bits & K_GLOBAL_NAME != 0 {
            map.serialize_entry("global_name", &u.global_name())?;
        }
        if u.bits & K_DISCRIMINATOR != 0 {
            match u.discriminator {
                0 => map.serialize_entry("discriminator", "0")?,
                n => map.serialize_entry("discriminator", &format!("{:04}", n - 1))?,
            }
        }
        if u.bits & K_AVATAR != 0 {
            let avatar = (u.bits & AVATAR != 0).then_some(ImageHash::Hex {
                animated: u.bits & ANIMATED != 0,
                bytes: u.avatar,
            });
            map.serialize_entry("avatar", &avatar)?;
        }
        if u.bits & K_PUBLIC_FLAGS != 0 {
            map.serialize_entry("public_flags", &u.public_flags)?;
        }
        if u.bits & K_FLAGS != 0 {
            map.serialize_entry("flags", &u.flags)?;
        }
        if u.bits & K_BOT != 0 {
            map.serialize_entry("bot", &u.bot())?;
        }
        if u.bits & K_SYSTEM != 0 {
            map.serialize_entry("system", &(u.bits & SYSTEM != 0))?;
        }
        if let Some(rest) = &u.rest {
            rest.serialize_into(&mut map)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip(v: &Value) -> Value {
        let text = v.to_string();
        let mut interner = Interner::default();
        let read: UserIn<'_> = serde_json::from_str(&text).expect("user");
        let (id, user) = read.into_user(&mut interner);
        serde_json::to_value(UserOut { id, user: &user }).expect("json")
    }

    #[test]
    fn a_user_comes_back_as_it_came() {
        for v in [
            json!({"id": "80351110224678912", "username": "nelly", "global_name": "Nel ✨",
                "discriminator": "0", "avatar": "8342729096ea3675442027381ff50dfe",
                "public_flags": 64, "flags": 64, "banner": null, "accent_color": null,
                "avatar_decoration_data": null, "primary_guild": null, "collectibles": null,
                "banner_color": null, "clan": {"tag": "NEL", "identity_guild_id": "1"}}),
            json!({"id": "1", "username": "old", "global_name": null, "discriminator": "0042",
                "avatar": "a_8342729096ea3675442027381ff50dfe", "bot": true, "system": false}),
            json!({"id": "2", "username": "odd \"quoted\"", "avatar": "not-a-hash",
                "discriminator": "12", "flags": 17_179_869_184_u64}),
            json!({"id": "3", "username": "bare"}),
        ] {
            assert_eq!(round_trip(&v), v);
        }
    }

    #[test]
    fn users_with_the_same_leftovers_share_them() {
        let mut interner = Interner::default();
        for id in 1..100 {
            let text = json!({"id": id.to_string(), "username": "u", "banner": null, "clan": null})
                .to_string();
            let read: UserIn<'_> = serde_json::from_str(&text).expect("user");
            read.into_user(&mut interner);
        }
        assert_eq!(interner.len(), 1);
    }
}
