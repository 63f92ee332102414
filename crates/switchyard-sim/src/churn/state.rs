//! [`LiveState`]: the guilds of the world as they are now, every object kept in the shape
//! Discord sends it, and the answers to "what is the state now" for comparisons.
//!
//! Objects are kept as the JSON Discord sends, keyed by id in ordered maps (so that the same
//! seed gives the same bytes). Users are kept once, as on Discord, where a user is global and
//! a member is a user's membership of one guild; a member is answered with its user. Bots are
//! not members of the state: a GUILD_CREATE adds the member of the bot it is sent to.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value, json};

use crate::ids::{iso8601, snowflake, snowflake_ms};
use crate::world::{Guild, User, World};

/// Messages kept per channel: the last ones, which edits and deletes pick from. A cache that
/// keeps as many per channel holds the same messages as the state.
pub const RECENT_MESSAGES: usize = 100;

/// The start of the churn's own clock (2025-01-01): every timestamp and new id derives from
/// it and the step count, never from the wall clock, so that a seed gives one stream.
const CLOCK_START_MS: u64 = 1_735_689_600_000;

/// One guild as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveGuild {
    /// The guild's id.
    pub(crate) id: u64,
    /// Its own fields as GUILD_UPDATE sends them, without the lists (roles, emojis,
    /// stickers), which are kept apart.
    pub(crate) fields: Map<String, Value>,
    /// When the bots joined it (GUILD_CREATE's `joined_at`).
    pub(crate) joined_at: String,
    /// In an outage (GUILD_DELETE with `unavailable`), until its GUILD_CREATE.
    pub(crate) unavailable: bool,
    /// Channels (not threads), with their `guild_id`.
    pub(crate) channels: BTreeMap<u64, Value>,
    /// Active threads, with their `guild_id` and `parent_id`.
    pub(crate) threads: BTreeMap<u64, Value>,
    /// Channels the bots cannot view (VIEW_CHANNEL denied to @everyone): no message or
    /// thread event of theirs is sent, and their threads are not in GUILD_CREATE.
    pub(crate) hidden: BTreeSet<u64>,
    /// Roles.
    pub(crate) roles: BTreeMap<u64, Value>,
    /// Members without their `user` (kept once in [`LiveState`]), by user id.
    pub(crate) members: BTreeMap<u64, Value>,
    /// The emoji list.
    pub(crate) emojis: Vec<Value>,
    /// The sticker list.
    pub(crate) stickers: Vec<Value>,
    /// Presences of members who are not offline, as PRESENCE_UPDATE sends them.
    pub(crate) presences: BTreeMap<u64, Value>,
    /// Voice states of users in a voice channel, with `guild_id`, without `member`.
    pub(crate) voice_states: BTreeMap<u64, Value>,
    /// Live stage instances.
    pub(crate) stage_instances: BTreeMap<u64, Value>,
    /// Scheduled events.
    pub(crate) scheduled_events: BTreeMap<u64, Value>,
}

impl LiveGuild {
    fn from_world(g: &Guild) -> Self {
        let mut fields = match g.to_json() {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        for key in ["roles", "emojis", "stickers"] {
            fields.remove(key);
        }
        LiveGuild {
            id: g.id,
            fields,
            joined_at: iso8601(snowflake_ms(g.id) + 86_400_000),
            unavailable: false,
            channels: g.channels.iter().map(|c| (c.id, c.to_json())).collect(),
            threads: BTreeMap::new(),
            hidden: BTreeSet::new(),
            roles: g.roles.iter().map(|r| (r.id, r.to_json())).collect(),
            members: g
                .members
                .iter()
                .map(|m| (m.user.id, m.to_json(false)))
                .collect(),
            emojis: Vec::new(),
            stickers: Vec::new(),
            presences: BTreeMap::new(),
            voice_states: BTreeMap::new(),
            stage_instances: BTreeMap::new(),
            scheduled_events: BTreeMap::new(),
        }
    }

    /// A channel or an active thread of this guild.
    pub(crate) fn any_channel(&self, id: u64) -> Option<&Value> {
        self.channels.get(&id).or_else(|| self.threads.get(&id))
    }
}

/// The guilds of the world as they are now, and the last messages of their channels.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveState {
    pub(crate) guilds: BTreeMap<u64, LiveGuild>,
    /// Every user who is or was a member somewhere, by id.
    pub(crate) users: BTreeMap<u64, Value>,
    /// The last [`RECENT_MESSAGES`] messages of each channel, oldest first, as
    /// MESSAGE_CREATE or the last MESSAGE_UPDATE sent them.
    pub(crate) messages: BTreeMap<u64, VecDeque<Value>>,
    /// The churn's clock, Unix milliseconds.
    pub(crate) clock_ms: u64,
    /// Ids handed out at the current clock.
    counter: u64,
}

impl LiveState {
    /// The world as its GUILD_CREATEs show it: the state before any change.
    pub fn from_world(world: &World) -> Self {
        let mut users = BTreeMap::new();
        for m in world.guilds.iter().flat_map(|g| g.members.iter()) {
            users.insert(m.user.id, m.user.to_json());
        }
        LiveState {
            guilds: world
                .guilds
                .iter()
                .map(|g| (g.id, LiveGuild::from_world(g)))
                .collect(),
            users,
            messages: BTreeMap::new(),
            clock_ms: CLOCK_START_MS,
            counter: 0,
        }
    }

    /// A fresh snowflake at the churn's clock.
    pub(crate) fn next_id(&mut self) -> u64 {
        self.counter += 1;
        snowflake(self.clock_ms, self.counter)
    }

    /// The churn's clock as an ISO-8601 timestamp.
    pub(crate) fn now(&self) -> String {
        iso8601(self.clock_ms)
    }

    /// Moves the clock on by `ms`.
    pub(crate) fn tick(&mut self, ms: u64) {
        self.clock_ms += ms;
        self.counter = 0;
    }

    /// The guilds' ids, in order.
    pub fn guild_ids(&self) -> Vec<u64> {
        self.guilds.keys().copied().collect()
    }

    /// A guild's own fields as its GUILD_CREATE sends them, without the lists it carries
    /// (`member_count` counts one bot, as the fake's GUILD_CREATE does).
    pub fn guild(&self, id: u64) -> Option<Value> {
        let g = self.guilds.get(&id)?;
        let mut v = g.fields.clone();
        v.insert("joined_at".into(), json!(g.joined_at));
        v.insert("large".into(), json!(false));
        v.insert("unavailable".into(), json!(false));
        v.insert("member_count".into(), json!(g.members.len() + 1));
        v.insert("lazy".into(), json!(true));
        Some(Value::Object(v))
    }

    /// Whether a guild is in an outage.
    pub fn guild_unavailable(&self, id: u64) -> Option<bool> {
        self.guilds.get(&id).map(|g| g.unavailable)
    }

    /// The guild object GUILD_UPDATE sends: its own fields with roles, emojis and stickers.
    pub(crate) fn guild_object(&self, id: u64) -> Option<Value> {
        let g = self.guilds.get(&id)?;
        let mut v = g.fields.clone();
        v.insert("roles".into(), json!(g.roles.values().collect::<Vec<_>>()));
        v.insert("emojis".into(), json!(g.emojis));
        v.insert("stickers".into(), json!(g.stickers));
        Some(Value::Object(v))
    }

    /// The GUILD_CREATE that `bot` gets for a guild: `{id, unavailable: true}` in an outage;
    /// else the guild with its lists, the bot's own member first and at most
    /// `large_threshold` members in all, presences only `with_presences` (the
    /// GUILD_PRESENCES intent), and only the threads of channels the bot can view.
    pub fn guild_create(
        &self,
        id: u64,
        bot: &User,
        large_threshold: usize,
        with_presences: bool,
    ) -> Option<Value> {
        if self.guilds.get(&id)?.unavailable {
            return Some(json!({"id": id.to_string(), "unavailable": true}));
        }
        self.render(id, bot, large_threshold, with_presences)
    }

    /// A guild's GUILD_CREATE, outage or not.
    fn render(
        &self,
        id: u64,
        bot: &User,
        large_threshold: usize,
        with_presences: bool,
    ) -> Option<Value> {
        let g = self.guilds.get(&id)?;
        let mut v = match self.guild_object(id)? {
            Value::Object(o) => o,
            _ => return None,
        };
        let total = g.members.len() + 1;
        let mut bot_member = json!({
            "user": bot.to_json(), "roles": [], "nick": null, "avatar": null, "banner": null,
            "joined_at": g.joined_at, "premium_since": null, "deaf": false, "mute": false,
            "flags": 0, "pending": false, "communication_disabled_until": null,
        });
        if bot_member["user"]["bot"].is_null() {
            bot_member["user"]["bot"] = json!(true);
        }
        let mut members = vec![bot_member];
        members.extend(
            g.members
                .keys()
                .take(large_threshold.saturating_sub(1))
                .filter_map(|u| self.member(id, *u)),
        );
        let strip_guild = |o: &Value| {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("guild_id");
            }
            o
        };
        let threads: Vec<&Value> = g
            .threads
            .values()
            .filter(|t| !parent_of(t).is_some_and(|p| g.hidden.contains(&p)))
            .collect();
        let presences: Vec<Value> = if with_presences {
            g.presences.values().map(strip_guild).collect()
        } else {
            Vec::new()
        };
        let extra = [
            ("joined_at", json!(g.joined_at)),
            ("large", json!(total > large_threshold)),
            ("unavailable", json!(false)),
            ("member_count", json!(total)),
            (
                "voice_states",
                json!(g.voice_states.values().map(strip_guild).collect::<Vec<_>>()),
            ),
            ("members", json!(members)),
            (
                "channels",
                json!(g.channels.values().map(strip_guild).collect::<Vec<_>>()),
            ),
            ("threads", json!(threads)),
            ("presences", json!(presences)),
            (
                "stage_instances",
                json!(g.stage_instances.values().collect::<Vec<_>>()),
            ),
            (
                "guild_scheduled_events",
                json!(g.scheduled_events.values().collect::<Vec<_>>()),
            ),
            ("soundboard_sounds", json!([])),
            ("lazy", json!(true)),
        ];
        for (k, val) in extra {
            v.insert(k.to_owned(), val);
        }
        Some(Value::Object(v))
    }

    /// The channels and active threads of a guild, each with its `guild_id`.
    pub fn channels(&self, guild: u64) -> Vec<Value> {
        self.guilds
            .get(&guild)
            .map(|g| {
                g.channels
                    .values()
                    .chain(g.threads.values())
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A channel or active thread, with its `guild_id`.
    pub fn channel(&self, id: u64) -> Option<Value> {
        self.guilds
            .values()
            .find_map(|g| g.any_channel(id))
            .cloned()
    }

    /// Channels the bots cannot view now (their threads and messages go unseen).
    pub fn hidden_channels(&self) -> Vec<u64> {
        self.guilds
            .values()
            .flat_map(|g| g.hidden.iter().copied())
            .collect()
    }

    /// The roles of a guild.
    pub fn roles(&self, guild: u64) -> Vec<Value> {
        self.guilds
            .get(&guild)
            .map(|g| g.roles.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A role of a guild.
    pub fn role(&self, guild: u64, role: u64) -> Option<Value> {
        self.guilds.get(&guild)?.roles.get(&role).cloned()
    }

    /// The user ids of a guild's members (bots aside), in order.
    pub fn member_ids(&self, guild: u64) -> Vec<u64> {
        self.guilds
            .get(&guild)
            .map(|g| g.members.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A member of a guild with its user, as Discord sends a member object.
    pub fn member(&self, guild: u64, user: u64) -> Option<Value> {
        let mut m = self.guilds.get(&guild)?.members.get(&user)?.clone();
        m["user"] = self.users.get(&user)?.clone();
        Some(m)
    }

    /// A user.
    pub fn user(&self, id: u64) -> Option<Value> {
        self.users.get(&id).cloned()
    }

    /// A guild's emoji list.
    pub fn emojis(&self, guild: u64) -> Option<Value> {
        self.guilds.get(&guild).map(|g| json!(g.emojis))
    }

    /// A guild's sticker list.
    pub fn stickers(&self, guild: u64) -> Option<Value> {
        self.guilds.get(&guild).map(|g| json!(g.stickers))
    }

    /// A member's presence, as PRESENCE_UPDATE sent it; `None` while offline.
    pub fn presence(&self, guild: u64, user: u64) -> Option<Value> {
        self.guilds.get(&guild)?.presences.get(&user).cloned()
    }

    /// The users of a guild with a presence (not offline).
    pub fn presence_ids(&self, guild: u64) -> Vec<u64> {
        self.guilds
            .get(&guild)
            .map(|g| g.presences.keys().copied().collect())
            .unwrap_or_default()
    }

    /// A user's voice state in a guild (with `guild_id`, without `member`), while in a
    /// voice channel.
    pub fn voice_state(&self, guild: u64, user: u64) -> Option<Value> {
        self.guilds.get(&guild)?.voice_states.get(&user).cloned()
    }

    /// The users of a guild in a voice channel.
    pub fn voice_ids(&self, guild: u64) -> Vec<u64> {
        self.guilds
            .get(&guild)
            .map(|g| g.voice_states.keys().copied().collect())
            .unwrap_or_default()
    }

    /// The live stage instances of a guild.
    pub fn stage_instances(&self, guild: u64) -> Vec<Value> {
        self.guilds
            .get(&guild)
            .map(|g| g.stage_instances.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The scheduled events of a guild.
    pub fn scheduled_events(&self, guild: u64) -> Vec<Value> {
        self.guilds
            .get(&guild)
            .map(|g| g.scheduled_events.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The last [`RECENT_MESSAGES`] messages of a channel or thread, oldest first.
    pub fn messages(&self, channel: u64) -> Vec<Value> {
        self.messages
            .get(&channel)
            .map(|m| m.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The whole state as JSON: each guild as the first bot would get its GUILD_CREATE
    /// (every member, with presences), its outage flag, and the channels' last messages.
    pub fn to_json(&self, bot: &User) -> Value {
        let guilds: Vec<Value> = self
            .guilds
            .iter()
            .filter_map(|(id, live)| {
                // in an outage: the state kept meanwhile, not what a session would get
                let mut g = self.render(*id, bot, usize::MAX, true)?;
                g["unavailable"] = json!(live.unavailable);
                Some(g)
            })
            .collect();
        let messages: Map<String, Value> = self
            .messages
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(c, m)| (c.to_string(), json!(m)))
            .collect();
        json!({"clock": self.now(), "guilds": guilds, "messages": messages})
    }
}

/// A thread's parent channel.
pub(crate) fn parent_of(thread: &Value) -> Option<u64> {
    id_of(&thread["parent_id"])
}

/// A snowflake written as a string (or number).
pub(crate) fn id_of(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}
