//! Presences in a compact form of their own (one per online member): the status and the
//! client status in two bytes, the activities as the JSON Discord sent (they differ from
//! user to user), read in one pass and written back in Discord's shape as they came.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use crate::id::Id;
use crate::rest::{Interner, Key, Leftovers, Rest};
use crate::scan;

const STATUSES: [&str; 5] = ["online", "idle", "dnd", "offline", "invisible"];
const PLATFORMS: [&str; 3] = ["desktop", "mobile", "web"];

/// A member's presence in one guild, without the user id and the guild id (the keys it is
/// kept under).
#[derive(Debug, Clone)]
pub(crate) struct Presence {
    /// The activities as Discord sent them (`None` for none).
    activities: Option<Box<RawValue>>,
    rest: Option<Rest>,
    /// An index into [`STATUSES`].
    status: u8,
    /// Two bits per platform of [`PLATFORMS`]: 0 absent, else an index into [`STATUSES`]
    /// plus one.
    client: u8,
    bits: u8,
}

const K_STATUS: u8 = 1;
const K_CLIENT_STATUS: u8 = 1 << 1;
const K_ACTIVITIES: u8 = 1 << 2;
/// The user object is `{"id": …}` alone (else it is kept whole in `rest`).
const USER_ID_ONLY: u8 = 1 << 4;

impl Presence {
    /// What the presence holds on the heap besides itself (its shared leftovers aside).
    pub fn heap_bytes(&self) -> usize {
        self.activities.as_ref().map_or(0, |a| a.get().len())
    }

    /// The status (`online`, `idle`, `dnd`, …), when it is one Discord documents.
    pub fn status(&self) -> Option<&'static str> {
        (self.bits & K_STATUS != 0).then(|| STATUSES[usize::from(self.status)])
    }
}

/// A presence object as read.
#[derive(Debug)]
pub(crate) struct PresenceIn<'de> {
    pub user: Id,
    pub guild_id: Option<Id>,
    presence: Presence,
    rest: Leftovers<'de>,
}

impl PresenceIn<'_> {
    /// The presence, its leftovers interned.
    pub fn into_presence(self, interner: &mut Interner) -> Presence {
        let mut p = self.presence;
        p.rest = interner.intern(self.rest);
        p
    }

    /// The status, as [`Presence::status`].
    pub fn status(&self) -> Option<&'static str> {
        self.presence.status()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for PresenceIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PresenceVisitor(PhantomData))
    }
}

#[derive(serde::Deserialize)]
struct UserRef {
    id: Id,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientStatus<'a> {
    #[serde(borrow)]
    desktop: Option<&'a str>,
    #[serde(borrow)]
    mobile: Option<&'a str>,
    #[serde(borrow)]
    web: Option<&'a str>,
}

fn status_index(s: &str) -> Option<u8> {
    STATUSES.iter().position(|x| *x == s).map(|i| i as u8)
}

/// The client status in two bits per platform, when it has only documented platforms and
/// the statuses a platform can have.
fn client_bits(raw: &RawValue) -> Option<u8> {
    let c: ClientStatus<'_> = serde_json::from_str(raw.get()).ok()?;
    [c.desktop, c.mobile, c.web]
        .iter()
        .enumerate()
        .try_fold(0u8, |bits, (i, s)| match s {
            None => Some(bits),
            Some(s) => {
                let v = status_index(s).filter(|v| *v < 3)? + 1;
                Some(bits | v << (2 * i))
            }
        })
}

struct PresenceVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for PresenceVisitor<'a> {
    type Value = PresenceIn<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a presence object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PresenceIn<'a>, A::Error> {
        let mut user = None;
        let mut guild_id = None;
        let mut rest = Leftovers::default();
        let mut p = Presence {
            activities: None,
            rest: None,
            status: 0,
            client: 0,
            bits: 0,
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "user" => {
                    let raw: &'de RawValue = map.next_value()?;
                    // Mostly `{"id":"…"}` alone: read without a second parse.
                    let only = raw
                        .get()
                        .strip_prefix(r#"{"id":"#)
                        .and_then(|r| r.strip_suffix('}'))
                        .and_then(scan::id);
                    if let Some(id) = only {
                        p.bits |= USER_ID_ONLY;
                        user = Some(id);
                    } else {
                        let u: UserRef =
                            serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
                        rest.push(key, raw);
                        user = Some(u.id);
                    }
                }
                "guild_id" => guild_id = Some(map.next_value()?),
                "status" => {
                    let raw: &'de RawValue = map.next_value()?;
                    let s = raw
                        .get()
                        .strip_prefix('"')
                        .and_then(|s| s.strip_suffix('"'));
                    match s.and_then(status_index) {
                        Some(i) => {
                            p.status = i;
                            p.bits |= K_STATUS;
                        }
                        None => rest.push(key, raw),
                    }
                }
                "client_status" => {
                    let raw: &'de RawValue = map.next_value()?;
                    match client_bits(raw) {
                        Some(bits) => {
                            p.client = bits;
                            p.bits |= K_CLIENT_STATUS;
                        }
                        None => rest.push(key, raw),
                    }
                }
                "activities" => {
                    let raw: &'de RawValue = map.next_value()?;
                    if raw.get() != "[]" {
                        p.activities = Some(raw.to_owned());
                    }
                    p.bits |= K_ACTIVITIES;
                }
                _ => rest.push(key, map.next_value()?),
            }
        }
        let user = user.ok_or_else(|| de::Error::missing_field("user"))?;
        Ok(PresenceIn {
            user,
            guild_id,
            presence: p,
            rest,
        })
    }
}

/// A presence in Discord's shape.
pub(crate) struct PresenceOut<'a> {
    pub user: Id,
    pub guild: Id,
    pub presence: &'a Presence,
}

struct Client(u8);

impl Serialize for Client {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (i, platform) in PLATFORMS.iter().enumerate() {
            let v = (self.0 >> (2 * i)) & 3;
            if v != 0 {
                map.serialize_entry(platform, STATUSES[usize::from(v - 1)])?;
            }
        }
        map.end()
    }
}

#[derive(serde::Serialize)]
struct UserOut {
    id: Id,
}

impl Serialize for PresenceOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.presence;
        let mut map = s.serialize_map(None)?;
        if p.bits & USER_ID_ONLY != 0 {
            map.serialize_entry("user", &UserOut { id: self.user })?;
        }
        if let Some(status) = p.status() {
            map.serialize_entry("status", status)?;
        }
        if p.bits & K_CLIENT_STATUS != 0 {
            map.serialize_entry("client_status", &Client(p.client))?;
        }
        if p.bits & K_ACTIVITIES != 0 {
            match &p.activities {
                Some(a) => map.serialize_entry("activities", a)?,
                None => map.serialize_entry("activities", &[(); 0])?,
            }
        }
        // Always: GUILD_CREATE's presences lack the guild_id PRESENCE_UPDATE carries, and a
        // presence reads the same whichever event it came from.
        map.serialize_entry("guild_id", &self.guild)?;
        if let Some(rest) = &p.rest {
            rest.serialize_into(&mut map)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip(v: &Value, guild: Id) -> Value {
        let text = v.to_string();
        let mut i = Interner::default();
        let read: PresenceIn<'_> = serde_json::from_str(&text).expect("presence");
        let user = read.user;
        let presence = read.into_presence(&mut i);
        serde_json::to_value(PresenceOut {
            user,
            guild,
            presence: &presence,
        })
        .expect("json")
    }

    #[test]
    fn a_presence_comes_back_as_it_came_with_its_guild() {
        let spotify = json!({"type": 2, "name": "Spotify", "id": "spotify:1", "flags": 48,
            "created_at": 1_765_000_000_000_u64, "details": "a song", "state": "Aurora",
            "timestamps": {"start": 1, "end": 2},
            "assets": {"large_image": "spotify:ab67616d0000b273", "large_text": "an album"},
            "party": {"id": "spotify:10"}, "sync_id": "abc", "session_id": "def"});
        for (v, guild) in [
            (
                json!({"user": {"id": "10"}, "status": "online",
                    "client_status": {"desktop": "online", "mobile": "idle"},
                    "activities": [spotify, {"type": 4, "name": "Custom Status", "state": "hi",
                        "emoji": {"name": "🔥"}}]}),
                Id(1),
            ),
            (
                json!({"user": {"id": "10"}, "status": "dnd", "guild_id": "7",
                    "client_status": {"web": "dnd"}, "activities": []}),
                Id(7),
            ),
            (
                json!({"user": {"id": "10", "username": "new name", "avatar": null},
                    "status": "streaming", "client_status": {"vr": "online"},
                    "activities": [], "hypesquad": true}),
                Id(1),
            ),
        ] {
            let mut want = v.clone();
            want["guild_id"] = json!(guild.to_string());
            assert_eq!(round_trip(&v, guild), want);
        }
    }

    #[test]
    fn a_presence_is_small() {
        assert!(size_of::<Presence>() <= 32);
    }
}
