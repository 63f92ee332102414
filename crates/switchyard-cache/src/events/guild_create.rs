//! GUILD_CREATE read in one pass: the guild's own fields gathered as JSON text, and each
//! list's elements borrowed from the payload, to be read by what keeps them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::id::Id;
use crate::rest::Key;

/// A guild object as GUILD_CREATE sends it.
#[derive(Debug, Default)]
pub(super) struct GuildCreate<'de> {
    pub id: Option<Id>,
    pub unavailable: bool,
    /// The guild's own fields, without the lists, as a JSON object.
    pub own: String,
    pub channels: Vec<&'de RawValue>,
    pub threads: Vec<&'de RawValue>,
    pub roles: Vec<&'de RawValue>,
    pub members: Vec<&'de RawValue>,
    pub presences: Vec<&'de RawValue>,
    pub voice_states: Vec<&'de RawValue>,
    pub emojis: Option<&'de RawValue>,
    pub stickers: Option<&'de RawValue>,
    pub stage_instances: Vec<&'de RawValue>,
    pub scheduled_events: Vec<&'de RawValue>,
}

impl<'de> Deserialize<'de> for GuildCreate<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(GuildVisitor)
    }
}

struct GuildVisitor;

impl<'de> Visitor<'de> for GuildVisitor {
    type Value = GuildCreate<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a guild object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<GuildCreate<'de>, A::Error> {
        let mut g = GuildCreate {
            own: String::from("{"),
            ..GuildCreate::default()
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "channels" => g.channels = list(&mut map)?,
                "threads" => g.threads = list(&mut map)?,
                "roles" => g.roles = list(&mut map)?,
                "members" => g.members = list(&mut map)?,
                "presences" => g.presences = list(&mut map)?,
                "voice_states" => g.voice_states = list(&mut map)?,
                "emojis" => g.emojis = Some(map.next_value()?),
                "stickers" => g.stickers = Some(map.next_value()?),
                "stage_instances" => g.stage_instances = list(&mut map)?,
                "guild_scheduled_events" => g.scheduled_events = list(&mut map)?,
                // A list the cache does not keep (yet): not part of the guild's own fields.
                "soundboard_sounds" => {
                    map.next_value::<IgnoredAny>()?;
                }
                k => {
                    let raw: &'de RawValue = map.next_value()?;
                    if k == "id" {
                        g.id = Some(serde_json::from_str(raw.get()).map_err(de::Error::custom)?);
                    } else if k == "unavailable" {
                        g.unavailable = raw.get() == "true";
                    }
                    if g.own.len() > 1 {
                        g.own.push(',');
                    }
                    g.own
                        .push_str(&serde_json::to_string(k).map_err(de::Error::custom)?);
                    g.own.push(':');
                    g.own.push_str(raw.get());
                }
            }
        }
        g.own.push('}');
        Ok(g)
    }
}

/// A list (or `null`, as none).
fn list<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Vec<&'de RawValue>, A::Error> {
    Ok(map
        .next_value::<Option<Vec<&'de RawValue>>>()?
        .unwrap_or_default())
}

/// `object` with `"guild_id"` added when it has none (the objects of GUILD_CREATE's lists
/// leave it out; alone, as in their own events, they carry it).
pub(super) fn with_guild_id(object: &RawValue, has: bool, guild: Id) -> Option<Box<RawValue>> {
    if has {
        return Some(object.to_owned());
    }
    let body = object.get().strip_prefix('{')?.trim_start();
    let text = if body.starts_with('}') {
        format!(r#"{{"guild_id":"{guild}"}}"#)
    } else {
        format!(r#"{{"guild_id":"{guild}",{body}"#)
    };
    RawValue::from_string(text).ok()
}
