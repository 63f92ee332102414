//! What twilight-cache-inmemory cannot know right from the stream, because it departs from
//! Discord's rules there (see `twilight`), tracked as the stream goes.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::compare::id;

/// The member fields twilight resets when a GUILD_MEMBER_UPDATE leaves them out.
pub const RESET: &[&str] = &["nick", "pending", "communication_disabled_until"];

/// What twilight cannot know right, from the stream: for each member (guild, user), which
/// of [`RESET`] its last member payload carried; and the presences it keeps of members who
/// left (until the user's next PRESENCE_UPDATE or the guild's next outage).
pub struct Carried(
    BTreeMap<(u64, u64), BTreeSet<&'static str>>,
    BTreeSet<(u64, u64)>,
);

impl Carried {
    pub fn new() -> Self {
        Carried(BTreeMap::new(), BTreeSet::new())
    }

    pub fn note(&mut self, name: &str, d: &Value) {
        match name {
            "GUILD_MEMBER_REMOVE" => {
                self.1.insert((id(&d["guild_id"]), id(&d["user"]["id"])));
            }
            "PRESENCE_UPDATE" => {
                self.1.remove(&(id(&d["guild_id"]), id(&d["user"]["id"])));
            }
            "GUILD_DELETE" => self.1.retain(|(g, _)| d["id"] != json!(g.to_string())),
            _ => {}
        }
        let mut member = |guild: &Value, m: &Value| {
            let keys = RESET
                .iter()
                .copied()
                .filter(|k| m.get(*k).is_some())
                .collect();
            self.0.insert((id(guild), id(&m["user"]["id"])), keys);
        };
        match name {
            "GUILD_CREATE" => {
                for m in d["members"].as_array().into_iter().flatten() {
                    member(&d["id"], m);
                }
            }
            "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" => member(&d["guild_id"], d),
            "VOICE_STATE_UPDATE" if d["member"].is_object() => member(&d["guild_id"], &d["member"]),
            // the author's partial member replaces twilight's member, and twilight's
            // partial member has no `pending`
            "MESSAGE_CREATE" | "MESSAGE_UPDATE" if d["member"].is_object() => {
                let mut m = d["member"].clone();
                m["user"] = d["author"].clone();
                m.as_object_mut().map(|o| o.remove("pending"));
                member(&d["guild_id"], &m);
            }
            _ => {}
        }
    }

    pub fn has(&self, guild: u64, user: u64, key: &str) -> bool {
        self.0.get(&(guild, user)).is_some_and(|k| k.contains(key))
    }

    pub fn presence_left_behind(&self, guild: u64, user: u64) -> bool {
        self.1.contains(&(guild, user))
    }
}
