//! A cache rebuilt after a session that could not be resumed: the state it held (restored
//! from a snapshot, or kept from the lost session) stays, marked as from before, until the
//! new session's GUILD_CREATE of each guild replaces it; what changed meanwhile comes out as
//! the usual update events ([`Synthesized`], with `old`), and what cannot be known is
//! counted in a [`RebuildReport`].
//!
//! READY names the guilds the new session has: one the cache held and READY does not name
//! is gone (a GUILD_DELETE is made up for it). One READY names whose GUILD_CREATE has not
//! come yet is in an outage, and keeps its state as Discord's rules say, until it comes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::diff::{self, Synthesized};
use crate::error::CacheError;
use crate::id::Id;
use crate::shard::ShardCache;

/// What a rebuild found, so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildReport {
    /// Guilds whose new GUILD_CREATE was compared with what the cache held.
    pub guilds_compared: u64,
    /// The events made up, by name.
    pub events: BTreeMap<String, u64>,
    /// Guilds the cache held that the new session's READY does not name: the bot left them
    /// meanwhile (a GUILD_DELETE was made up for each).
    pub removed_guilds: Vec<Id>,
    /// Threads no longer among the active ones: archived or deleted, which cannot be known;
    /// they are no longer cached.
    pub threads_gone: Vec<Id>,
    /// Members of large guilds that the new GUILD_CREATE does not list: left or not, which
    /// cannot be known; they are no longer cached.
    pub members_unverified: u64,
    /// Messages kept from before, which may have been edited or deleted meanwhile (no
    /// GUILD_CREATE carries messages).
    pub messages_unverified: u64,
}

/// A rebuild under way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rebuild {
    /// The session the state was from, when known.
    pub previous_session: Option<String>,
    /// Guilds holding state from before, waiting for their GUILD_CREATE.
    pub pending: BTreeSet<Id>,
    /// What was found so far.
    pub report: RebuildReport,
}

#[derive(Deserialize)]
struct Ready {
    #[serde(default)]
    guilds: Vec<GuildId>,
}

#[derive(Deserialize)]
struct GuildId {
    id: Id,
    #[serde(default)]
    unavailable: bool,
}

impl Rebuild {
    /// Applies the READY of a new session to a cache that may hold state from before it
    /// (from `previous_session`). The guilds READY does not name are removed, each with a
    /// GUILD_DELETE made up; the others that hold state wait for their GUILD_CREATE. `None`
    /// when the cache held nothing to compare.
    pub fn begin(
        cache: &mut ShardCache,
        previous_session: Option<String>,
        ready: &str,
    ) -> Result<(Option<Rebuild>, Vec<Synthesized>), CacheError> {
        let named: Ready = serde_json::from_str(ready).map_err(CacheError::shape("READY"))?;
        let named: BTreeSet<Id> = named.guilds.iter().map(|g| g.id).collect();
        let mut held: Vec<Id> = cache.guild_ids().collect();
        held.sort_unstable();
        let mut rebuild = Rebuild {
            previous_session,
            ..Rebuild::default()
        };
        let mut events = Vec::new();
        for id in held {
            let has_state = cache.guild_has_state(id);
            if named.contains(&id) {
                if has_state {
                    rebuild.pending.insert(id);
                }
                continue;
            }
            let left = format!(r#"{{"id":"{id}"}}"#);
            let old = cache.apply("GUILD_DELETE", &left)?;
            if has_state {
                rebuild.report.removed_guilds.push(id);
                rebuild.found("GUILD_DELETE");
                if let Ok(data) = RawValue::from_string(left) {
                    events.push(Synthesized {
                        event: "GUILD_DELETE",
                        data,
                        old,
                    });
                }
            }
        }
        cache.apply("READY", ready)?;
        let held_any = !rebuild.pending.is_empty() || !events.is_empty();
        Ok((held_any.then_some(rebuild), events))
    }

    /// Applies one dispatch during the rebuild: the GUILD_CREATE of a guild holding state
    /// from before is compared with it. Returns the event's `old` (as
    /// [`ShardCache::apply`]) and the events made up.
    pub fn apply(
        &mut self,
        cache: &mut ShardCache,
        event: &str,
        data: &str,
    ) -> Result<(Option<Box<RawValue>>, Vec<Synthesized>), CacheError> {
        if event == "GUILD_DELETE" {
            let gone: GuildId = serde_json::from_str(data).map_err(CacheError::shape(event))?;
            if !gone.unavailable {
                self.pending.remove(&gone.id);
            }
        }
        if event != "GUILD_CREATE" {
            return Ok((cache.apply(event, data)?, Vec::new()));
        }
        let created: GuildId = serde_json::from_str(data).map_err(CacheError::shape(event))?;
        if created.unavailable || !self.pending.contains(&created.id) {
            return Ok((cache.apply(event, data)?, Vec::new()));
        }
        let id = created.id;
        let prev = cache.guild_object(id);
        let kept = kept_messages(cache, &prev);
        cache.apply(event, data)?;
        self.pending.remove(&id);
        let new = cache.guild_object(id);
        let found = diff::guild(id, &prev, &new);
        for (channel, messages) in kept {
            if cache.channel(channel).is_none() {
                continue;
            }
            for message in messages {
                if cache.apply("MESSAGE_CREATE", message.get()).is_ok() {
                    self.report.messages_unverified += 1;
                }
            }
        }
        self.report.guilds_compared += 1;
        self.report.threads_gone.extend(found.threads_gone);
        self.report.members_unverified += found.members_unverified;
        for e in &found.events {
            self.found(e.event);
        }
        Ok((None, found.events))
    }

    /// Whether every guild holding state from before has had its GUILD_CREATE.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    fn found(&mut self, event: &str) {
        *self.report.events.entry(event.to_owned()).or_default() += 1;
    }
}

/// The messages the cache holds of the guild's channels and threads (`guild` as
/// [`ShardCache::guild_object`] gives it), oldest first, to be kept across its GUILD_CREATE.
fn kept_messages(cache: &ShardCache, guild: &serde_json::Value) -> Vec<(Id, Vec<Box<RawValue>>)> {
    ["channels", "threads"]
        .iter()
        .filter_map(|key| guild[key].as_array())
        .flatten()
        .filter_map(|c| c["id"].as_str()?.parse().ok().map(Id))
        .map(|id| {
            let messages = cache
                .messages(id)
                .into_iter()
                .map(ToOwned::to_owned)
                .collect();
            (id, messages)
        })
        .filter(|(_, m): &(Id, Vec<Box<RawValue>>)| !m.is_empty())
        .collect()
}
