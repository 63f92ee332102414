//! [`ShardCache`]: one shard's cache, the one owner of its state, and its reads; the events
//! that change it live in `events`, one small home per kind of object.

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::value::RawValue;

use crate::config::CacheConfig;
use crate::id::Id;
use crate::lazy::Lazy;
use crate::member::{Member, MemberOut};
use crate::presence::{Presence, PresenceOut};
use crate::rest::Interner;
use crate::search::NameIndex;
use crate::user::{User, UserOut};

pub(crate) type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type Set<K> = HashSet<K, foldhash::fast::RandomState>;

/// The lists a guild object may carry (GUILD_CREATE's), which the cache keeps apart from
/// the guild's own fields.
pub(crate) const GUILD_LISTS: &[&str] = &[
    "channels",
    "threads",
    "roles",
    "members",
    "presences",
    "voice_states",
    "emojis",
    "stickers",
    "stage_instances",
    "guild_scheduled_events",
    "soundboard_sounds",
];

/// One guild: its own fields and what belongs to it.
#[derive(Debug, Default)]
pub(crate) struct Guild {
    /// The guild's own fields as Discord sent them, without the lists GUILD_CREATE carries
    /// (`None` while only its id is known, as in READY).
    pub raw: Option<Box<RawValue>>,
    /// In an outage: the state is kept until the guild is available again or deleted.
    pub unavailable: bool,
    pub channels: Set<Id>,
    pub roles: Map<Id, Box<RawValue>>,
    pub members: Map<Id, Member>,
    /// The emoji list, as the last GUILD_CREATE or GUILD_EMOJIS_UPDATE sent it.
    pub emojis: Option<Box<RawValue>>,
    /// The sticker list, likewise.
    pub stickers: Option<Box<RawValue>>,
    /// Presences by user.
    pub presences: Map<Id, Presence>,
    /// Voice states by user (only users in a voice channel), as Discord sent them.
    pub voice_states: Map<Id, Stored>,
    /// Stage instances by id, as Discord sent them.
    pub stage_instances: Map<Id, Box<RawValue>>,
    /// Scheduled events by id, as Discord sent them.
    pub scheduled_events: Map<Id, Box<RawValue>>,
    /// Members by name, from the guild's first search on.
    pub names: Lazy<NameIndex>,
    /// Members' ids in order, from the guild's first page on (pages of a guild of
    /// hundreds of thousands of members then cost their length, not the guild's size).
    pub ids: Lazy<std::collections::BTreeSet<Id>>,
}

/// JSON whose shape the pass that read its ids checked already, kept as text: reads check
/// it again (rarely), so that the event path copies it without a second pass.
#[derive(Debug)]
pub(crate) struct Stored(Box<str>);

impl Stored {
    pub fn new(checked: &str) -> Stored {
        Stored(checked.into())
    }

    /// The JSON (always valid: it was checked when stored).
    pub fn get(&self) -> Option<&RawValue> {
        serde_json::from_str(&self.0).ok()
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// An owned copy, for `old`.
    pub fn to_raw(&self) -> Option<Box<RawValue>> {
        self.get().map(ToOwned::to_owned)
    }
}

/// A channel or thread, as Discord sent it.
#[derive(Debug)]
pub(crate) struct Channel {
    pub guild: Option<Id>,
    pub raw: Box<RawValue>,
}

/// A user and how many cached members refer to it.
#[derive(Debug)]
pub(crate) struct SharedUser {
    pub user: User,
    pub members: u32,
}

/// How much the cache holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheCounts {
    /// Guilds, unavailable ones included.
    pub guilds: usize,
    /// Guilds in an outage.
    pub unavailable_guilds: usize,
    /// Channels and threads.
    pub channels: usize,
    /// Roles.
    pub roles: usize,
    /// Members, over every guild.
    pub members: usize,
    /// Users (each once).
    pub users: usize,
    /// Presences, over every guild.
    pub presences: usize,
    /// Voice states, over every guild.
    pub voice_states: usize,
    /// Messages, over every channel.
    pub messages: usize,
    /// About how many bytes the cache holds ([`ShardCache::memory_bytes`]).
    pub memory_bytes: usize,
}

/// One shard's cache.
#[derive(Debug)]
pub struct ShardCache {
    pub(crate) config: CacheConfig,
    pub(crate) own_user: Option<(Id, User)>,
    /// READY's `application` (`{"id", "flags"}`), as Discord sent it.
    pub(crate) application: Option<Box<RawValue>>,
    pub(crate) guilds: Map<Id, Guild>,
    pub(crate) channels: Map<Id, Channel>,
    pub(crate) users: Map<Id, SharedUser>,
    /// The last messages of each channel, oldest first.
    pub(crate) messages: Map<Id, VecDeque<(Id, Stored)>>,
    /// The fields the compact types do not model, each distinct set once.
    pub(crate) rests: Interner,
}

impl ShardCache {
    /// An empty cache keeping what `config` says.
    pub fn new(config: CacheConfig) -> Self {
        ShardCache {
            config,
            own_user: None,
            application: None,
            guilds: Map::default(),
            channels: Map::default(),
            users: Map::default(),
            messages: Map::default(),
            rests: Interner::default(),
        }
    }

    /// The guilds it holds, unavailable ones included (cheap, unlike [`ShardCache::counts`]).
    pub fn guild_count(&self) -> usize {
        self.guilds.len()
    }

    /// How much the cache holds.
    pub fn counts(&self) -> CacheCounts {
        CacheCounts {
            guilds: self.guilds.len(),
            unavailable_guilds: self.guilds.values().filter(|g| g.unavailable).count(),
            channels: self.channels.len(),
            roles: self.guilds.values().map(|g| g.roles.len()).sum(),
            members: self.guilds.values().map(|g| g.members.len()).sum(),
            users: self.users.len(),
            presences: self.guilds.values().map(|g| g.presences.len()).sum(),
            voice_states: self.guilds.values().map(|g| g.voice_states.len()).sum(),
            messages: self.messages.values().map(VecDeque::len).sum(),
            memory_bytes: self.memory_bytes(),
        }
    }

    /// A guild's own fields, as Discord sent them.
    pub fn guild(&self, id: Id) -> Option<&RawValue> {
        self.guilds.get(&id)?.raw.as_deref()
    }

    /// Whether a guild is in an outage (its cached state kept meanwhile).
    pub fn guild_unavailable(&self, id: Id) -> Option<bool> {
        self.guilds.get(&id).map(|g| g.unavailable)
    }

    /// A channel or thread.
    pub fn channel(&self, id: Id) -> Option<&RawValue> {
        self.channels.get(&id).map(|c| &*c.raw)
    }

    /// The channels and threads of a guild.
    pub fn guild_channels(&self, guild: Id) -> Vec<&RawValue> {
        let Some(g) = self.guilds.get(&guild) else {
            return Vec::new();
        };
        g.channels
            .iter()
            .filter_map(|id| self.channel(*id))
            .collect()
    }

    /// The roles of a guild.
    pub fn guild_roles(&self, guild: Id) -> Vec<&RawValue> {
        self.guilds
            .get(&guild)
            .map(|g| g.roles.values().map(|r| &**r).collect())
            .unwrap_or_default()
    }

    /// A role of a guild.
    pub fn role(&self, guild: Id, role: Id) -> Option<&RawValue> {
        self.guilds.get(&guild)?.roles.get(&role).map(|r| &**r)
    }

    /// A member of a guild, in Discord's shape (with its user).
    pub fn member(&self, guild: Id, user: Id) -> Option<Box<RawValue>> {
        let member = self.guilds.get(&guild)?.members.get(&user)?;
        self.member_json(user, member)
    }

    /// Whether the cache holds fewer members of a guild than its `member_count` says (a
    /// large guild's GUILD_CREATE carries only some).
    pub fn missing_members(&self, guild: Id) -> bool {
        let Some(g) = self.guilds.get(&guild) else {
            return false;
        };
        self.member_count(guild)
            .is_some_and(|n| g.members.len() < n)
    }

    /// A guild's `member_count`, as GUILD_CREATE sent it and member events kept it up.
    pub fn member_count(&self, guild: Id) -> Option<usize> {
        #[derive(serde::Deserialize)]
        struct Count {
            member_count: Option<usize>,
        }
        let raw = self.guilds.get(&guild)?.raw.as_deref()?;
        serde_json::from_str::<Count>(raw.get())
            .ok()
            .and_then(|c| c.member_count)
    }

    /// A guild's emojis, as Discord last sent the list.
    pub fn emojis(&self, guild: Id) -> Option<&RawValue> {
        self.guilds.get(&guild)?.emojis.as_deref()
    }

    /// A guild's stickers, as Discord last sent the list.
    pub fn stickers(&self, guild: Id) -> Option<&RawValue> {
        self.guilds.get(&guild)?.stickers.as_deref()
    }

    /// A guild's stage instances.
    pub fn stage_instances(&self, guild: Id) -> Vec<&RawValue> {
        self.guilds
            .get(&guild)
            .map(|g| g.stage_instances.values().map(|r| &**r).collect())
            .unwrap_or_default()
    }

    /// A guild's scheduled events.
    pub fn scheduled_events(&self, guild: Id) -> Vec<&RawValue> {
        self.guilds
            .get(&guild)
            .map(|g| g.scheduled_events.values().map(|r| &**r).collect())
            .unwrap_or_default()
    }

    /// A member's presence, in Discord's shape.
    pub fn presence(&self, guild: Id, user: Id) -> Option<Box<RawValue>> {
        let presence = self.guilds.get(&guild)?.presences.get(&user)?;
        presence_json(guild, user, presence)
    }

    /// A user's voice state in a guild, while in a voice channel.
    pub fn voice_state(&self, guild: Id, user: Id) -> Option<&RawValue> {
        self.guilds.get(&guild)?.voice_states.get(&user)?.get()
    }

    /// The last messages of a channel, oldest first.
    pub fn messages(&self, channel: Id) -> Vec<&RawValue> {
        self.messages
            .get(&channel)
            .map(|m| m.iter().filter_map(|(_, raw)| raw.get()).collect())
            .unwrap_or_default()
    }

    /// The bot's own user, in Discord's shape.
    pub fn own_user(&self) -> Option<Box<RawValue>> {
        let (id, user) = self.own_user.as_ref()?;
        to_raw(&UserOut { id: *id, user })
    }

    /// READY's `application` object (`{"id", "flags"}`), once a READY (or a snapshot) gave
    /// it.
    pub fn application(&self) -> Option<&RawValue> {
        self.application.as_deref()
    }

    /// Every guild the cache knows, with whether it is in an outage, in id order (READY's
    /// `guilds`, as the shard's session stands now).
    pub fn guild_list(&self) -> Vec<(Id, bool)> {
        let mut list: Vec<(Id, bool)> = self
            .guilds
            .iter()
            .map(|(id, g)| (*id, g.unavailable))
            .collect();
        list.sort_unstable();
        list
    }

    /// The ids of the guilds the cache knows (available or not), in no order.
    pub(crate) fn guild_ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.guilds.keys().copied()
    }

    /// Whether the cache holds anything of a guild beyond its id (a guild READY named and
    /// no GUILD_CREATE filled holds nothing).
    pub(crate) fn guild_has_state(&self, id: Id) -> bool {
        self.guilds.get(&id).is_some_and(|g| {
            g.raw.is_some()
                || !g.channels.is_empty()
                || !g.roles.is_empty()
                || !g.members.is_empty()
                || g.emojis.is_some()
                || g.stickers.is_some()
                || !g.presences.is_empty()
                || !g.voice_states.is_empty()
        })
    }

    /// A guild's members in Discord's shape (each with its user), ready to serialize.
    pub(crate) fn guild_members(&self, guild: Id) -> impl Iterator<Item = MemberOut<'_>> {
        self.guilds
            .get(&guild)
            .into_iter()
            .flat_map(|g| g.members.iter())
            .filter_map(|(id, member)| {
                let user = &self.users.get(id)?.user;
                Some(MemberOut {
                    user: Some((*id, user)),
                    member,
                })
            })
    }

    /// A guild's presences of the users `keep` accepts, in Discord's shape.
    pub(crate) fn guild_presences(
        &self,
        guild: Id,
        keep: impl Fn(Id) -> bool,
    ) -> Vec<Box<RawValue>> {
        self.guilds
            .get(&guild)
            .map(|g| {
                g.presences
                    .iter()
                    .filter(|(user, _)| keep(**user))
                    .filter_map(|(user, p)| presence_json(guild, *user, p))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A guild's voice states, as Discord sent them (with their `guild_id`).
    pub(crate) fn guild_voice_states(&self, guild: Id) -> Vec<&RawValue> {
        self.guilds
            .get(&guild)
            .map(|g| g.voice_states.values().filter_map(Stored::get).collect())
            .unwrap_or_default()
    }

    /// Channels of no guild (DMs).
    pub(crate) fn private_channels(&self) -> Vec<&RawValue> {
        self.channels
            .values()
            .filter(|c| c.guild.is_none())
            .map(|c| &*c.raw)
            .collect()
    }

    /// The channels the cache holds messages of.
    pub(crate) fn message_channels(&self) -> impl Iterator<Item = Id> + '_ {
        self.messages
            .iter()
            .filter(|(_, m)| !m.is_empty())
            .map(|(id, _)| *id)
    }

    pub(crate) fn member_json(&self, user: Id, member: &Member) -> Option<Box<RawValue>> {
        member_json(&self.users, user, member)
    }
}

/// A member in Discord's shape, with its user from `users`.
pub(crate) fn member_json(
    users: &Map<Id, SharedUser>,
    user: Id,
    member: &Member,
) -> Option<Box<RawValue>> {
    let shared = &users.get(&user)?.user;
    to_raw(&MemberOut {
        user: Some((user, shared)),
        member,
    })
}

/// A presence in Discord's shape.
pub(crate) fn presence_json(guild: Id, user: Id, presence: &Presence) -> Option<Box<RawValue>> {
    to_raw(&PresenceOut {
        user,
        guild,
        presence,
    })
}

/// `value` as raw JSON (the cache's own types always serialize).
pub(crate) fn to_raw<T: serde::Serialize>(value: &T) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(value).ok()
}
