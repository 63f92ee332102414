//! Snapshots of a shard's cache, so that a restarted shard does not start empty (a resumed
//! session gets no READY and no GUILD_CREATE): each guild as the GUILD_CREATE Discord would
//! send for it ([`ShardCache::guild_create`]), the bot's own user and application, DM
//! channels and the last messages of each channel, with the [`Position`] (session and
//! sequence) they cover.
//!
//! A snapshot is restored by applying its pieces to a fresh cache as the events they stand
//! for (GUILD_CREATE, USER_UPDATE, CHANNEL_CREATE, MESSAGE_CREATE), so that it depends on the
//! events' rules and the public reads, not on how the cache lays out its state.

use std::collections::BTreeMap;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::config::CacheConfig;
use crate::error::CacheError;
use crate::id::Id;
use crate::rebuild::Rebuild;
use crate::shard::{Set, ShardCache, to_raw};

/// The snapshot format this crate writes and the highest it reads.
pub const SNAPSHOT_VERSION: u32 = 1;

/// The lists of a GUILD_CREATE the cache does not keep (yet): always sent, empty.
const NOT_KEPT: &[&str] = &["soundboard_sounds"];

/// Channel types that are threads (announcement, public and private threads).
const THREAD_TYPES: &[&str] = &["10", "11", "12"];

/// Where a snapshot stands: the gateway session whose events the cache had applied, and the
/// sequence of the last of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The session.
    pub session: Option<String>,
    /// The last sequence applied.
    pub seq: Option<u64>,
}

/// A cache rebuilt from a snapshot, and what the snapshot said besides.
#[derive(Debug)]
pub struct Restored {
    /// The cache.
    pub cache: ShardCache,
    /// The position it covers.
    pub position: Position,
    /// A rebuild that was under way when the snapshot was taken.
    pub rebuild: Option<Rebuild>,
}

impl ShardCache {
    /// A guild as Discord's GUILD_CREATE would carry it: its own fields with its channels,
    /// threads, roles, emojis, stickers, members, presences and voice states (lists the cache
    /// does not keep are empty); a guild in an outage as `{"id", "unavailable": true}`, as
    /// Discord sends it then. `None` for a guild the cache does not know.
    pub fn guild_create(&self, guild: Id) -> Option<Box<RawValue>> {
        if self.guild_unavailable(guild)? {
            return to_raw(&Stub(guild));
        }
        to_raw(&GuildOut::new(self, guild))
    }

    /// A guild in GUILD_CREATE's shape whatever its state (an outage included), as JSON, for
    /// comparing two states of it; `Null` for a guild the cache does not know.
    pub(crate) fn guild_object(&self, guild: Id) -> serde_json::Value {
        if self.guild_unavailable(guild).is_none() {
            return serde_json::Value::Null;
        }
        serde_json::to_value(GuildOut::new(self, guild)).unwrap_or_default()
    }

    /// The whole cache as a snapshot at `position` (with a rebuild under way, if any), as
    /// JSON.
    pub fn snapshot(
        &self,
        position: &Position,
        rebuild: Option<&Rebuild>,
    ) -> Result<Vec<u8>, CacheError> {
        let mut bytes = Vec::new();
        self.snapshot_into(position, rebuild, &mut bytes)?;
        Ok(bytes)
    }

    /// [`ShardCache::snapshot`] appended to `out` (reserve what the last one took, and it is
    /// written without growing the buffer on the way).
    pub fn snapshot_into(
        &self,
        position: &Position,
        rebuild: Option<&Rebuild>,
        out: &mut Vec<u8>,
    ) -> Result<(), CacheError> {
        let mut guilds: Vec<Id> = self.guild_ids().collect();
        guilds.sort_unstable();
        let snapshot = SnapshotOut {
            v: SNAPSHOT_VERSION,
            session: position.session.as_deref(),
            seq: position.seq,
            user: self.own_user(),
            application: self.application(),
            guilds: GuildsOut {
                cache: self,
                ids: &guilds,
            },
            unavailable: guilds
                .iter()
                .copied()
                .filter(|id| self.guild_unavailable(*id) == Some(true) && self.guild_has_state(*id))
                .collect(),
            private_channels: self.private_channels(),
            messages: MessagesOut { cache: self },
            rebuild,
        };
        serde_json::to_writer(out, &snapshot).map_err(CacheError::Snapshot)
    }

    /// A cache keeping what `config` says, filled from a snapshot. A snapshot that cannot be
    /// read, or whose pieces do not apply, restores nothing: the error says why.
    pub fn restore(config: CacheConfig, bytes: &[u8]) -> Result<Restored, CacheError> {
        let snap: SnapshotIn<'_> = serde_json::from_slice(bytes).map_err(CacheError::Snapshot)?;
        if snap.v > SNAPSHOT_VERSION {
            return Err(CacheError::SnapshotVersion {
                found: snap.v,
                max: SNAPSHOT_VERSION,
            });
        }
        let mut cache = ShardCache::new(config);
        if let Some(user) = snap.user {
            cache.apply("USER_UPDATE", user.get())?;
        }
        // Only READY carries the application, and a snapshot replays no READY: set as saved.
        cache.application = snap.application.map(ToOwned::to_owned);
        for guild in &snap.guilds {
            cache.apply("GUILD_CREATE", guild.get())?;
        }
        for id in &snap.unavailable {
            let outage = format!(r#"{{"id":"{id}","unavailable":true}}"#);
            cache.apply("GUILD_DELETE", &outage)?;
        }
        for channel in &snap.private_channels {
            cache.apply("CHANNEL_CREATE", channel.get())?;
        }
        for channel in &snap.messages {
            for message in &channel.messages {
                cache.apply("MESSAGE_CREATE", message.get())?;
            }
        }
        Ok(Restored {
            cache,
            position: Position {
                session: snap.session,
                seq: snap.seq,
            },
            rebuild: snap.rebuild,
        })
    }
}

/// A guild in an outage, as Discord's GUILD_CREATE and READY carry it.
pub(crate) struct Stub(pub Id);

impl Serialize for Stub {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("id", &self.0)?;
        map.serialize_entry("unavailable", &true)?;
        map.end()
    }
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    v: u32,
    session: Option<&'a str>,
    seq: Option<u64>,
    user: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    application: Option<&'a RawValue>,
    guilds: GuildsOut<'a>,
    /// Guilds in an outage whose state is kept: restored, then marked unavailable.
    unavailable: Vec<Id>,
    private_channels: Vec<&'a RawValue>,
    messages: MessagesOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rebuild: Option<&'a Rebuild>,
}

#[derive(Deserialize)]
struct SnapshotIn<'a> {
    v: u32,
    #[serde(default)]
    session: Option<String>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(borrow, default)]
    user: Option<&'a RawValue>,
    /// Absent from snapshots written before it was kept.
    #[serde(borrow, default)]
    application: Option<&'a RawValue>,
    #[serde(borrow, default)]
    guilds: Vec<&'a RawValue>,
    #[serde(default)]
    unavailable: Vec<Id>,
    #[serde(borrow, default)]
    private_channels: Vec<&'a RawValue>,
    #[serde(borrow, default)]
    messages: Vec<ChannelMessagesIn<'a>>,
    #[serde(default)]
    rebuild: Option<Rebuild>,
}

#[derive(Deserialize)]
struct ChannelMessagesIn<'a> {
    #[serde(borrow)]
    messages: Vec<&'a RawValue>,
}

/// Every guild with state, in full; a guild READY named and nothing filled, as Discord's
/// unavailable stub. A guild id the cache knows nothing of is left out.
struct GuildsOut<'a> {
    cache: &'a ShardCache,
    ids: &'a [Id],
}

impl Serialize for GuildsOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for &id in self.ids {
            if self.cache.guild_has_state(id) {
                seq.serialize_element(&GuildOut::new(self.cache, id))?;
            } else if self.cache.guild_unavailable(id) == Some(true) {
                seq.serialize_element(&Stub(id))?;
            }
        }
        seq.end()
    }
}

/// A guild in GUILD_CREATE's shape, written straight from the cache: whole, or as a
/// client's scope says ([`Scoped`]).
pub(crate) struct GuildOut<'a> {
    cache: &'a ShardCache,
    id: Id,
    scope: Option<&'a Scoped>,
}

/// Which members and presences a guild written for a client carries, and its `large`.
#[derive(Debug)]
pub(crate) struct Scoped {
    /// The users whose members (and presences) are written; `None`: every one.
    pub members: Option<Set<Id>>,
    /// Whether presences are written at all.
    pub presences: bool,
    /// GUILD_CREATE's `large`, for the client's `large_threshold`.
    pub large: bool,
}

impl Scoped {
    fn keeps(&self, user: Id) -> bool {
        self.members.as_ref().is_none_or(|m| m.contains(&user))
    }
}

impl<'a> GuildOut<'a> {
    fn new(cache: &'a ShardCache, id: Id) -> Self {
        GuildOut {
            cache,
            id,
            scope: None,
        }
    }

    /// The guild as a client of `scope` gets it.
    pub(crate) fn scoped(cache: &'a ShardCache, id: Id, scope: &'a Scoped) -> Self {
        GuildOut {
            cache,
            id,
            scope: Some(scope),
        }
    }
}

/// A JSON object's fields, the values left raw (keys borrowed: Discord's have no escapes).
type Fields<'a> = BTreeMap<&'a str, &'a RawValue>;

fn fields(raw: &RawValue) -> Option<Fields<'_>> {
    serde_json::from_str(raw.get()).ok()
}

/// An object as GUILD_CREATE carries it in its lists: without its `guild_id` (which the cache
/// adds back when it reads them); as it is when it cannot be read as an object.
enum Listed<'a> {
    Fields(Fields<'a>),
    Raw(&'a RawValue),
}

impl<'a> Listed<'a> {
    fn new(raw: &'a RawValue) -> Self {
        match fields(raw) {
            Some(mut f) => {
                f.remove("guild_id");
                Listed::Fields(f)
            }
            None => Listed::Raw(raw),
        }
    }
}

impl Serialize for Listed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Listed::Fields(f) => f.serialize(s),
            Listed::Raw(raw) => raw.serialize(s),
        }
    }
}

impl Serialize for GuildOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (cache, id) = (self.cache, self.id);
        let mut map = s.serialize_map(None)?;
        let own = cache
            .guild(id)
            .and_then(|raw| serde_json::from_str::<BTreeMap<String, &RawValue>>(raw.get()).ok());
        match own {
            Some(own) => {
                for (key, value) in &own {
                    if self.scope.is_none() || key != "large" {
                        map.serialize_entry(key, value)?;
                    }
                }
            }
            None => map.serialize_entry("id", &id)?,
        }
        if let Some(scope) = self.scope {
            map.serialize_entry("large", &scope.large)?;
        }
        // Threads keep their guild_id, as in GUILD_CREATE; one reading of each channel.
        let mut channels = Vec::new();
        let mut threads = Vec::new();
        for raw in cache.guild_channels(id) {
            match fields(raw) {
                Some(f)
                    if f.get("type")
                        .is_some_and(|t| THREAD_TYPES.contains(&t.get())) =>
                {
                    threads.push(raw);
                }
                Some(mut f) => {
                    f.remove("guild_id");
                    channels.push(Listed::Fields(f));
                }
                None => channels.push(Listed::Raw(raw)),
            }
        }
        map.serialize_entry("channels", &channels)?;
        map.serialize_entry("threads", &threads)?;
        map.serialize_entry("roles", &cache.guild_roles(id))?;
        let empty = Vec::<()>::new();
        match cache.emojis(id) {
            Some(list) => map.serialize_entry("emojis", list)?,
            None => map.serialize_entry("emojis", &empty)?,
        }
        match cache.stickers(id) {
            Some(list) => map.serialize_entry("stickers", list)?,
            None => map.serialize_entry("stickers", &empty)?,
        }
        let scope = self.scope;
        map.serialize_entry("members", &Members { cache, id, scope })?;
        let presences = match scope {
            Some(s) if !s.presences => Vec::new(),
            _ => cache.guild_presences(id, |user| scope.is_none_or(|s| s.keeps(user))),
        };
        map.serialize_entry("presences", &presences)?;
        let voice: Vec<Listed<'_>> = cache
            .guild_voice_states(id)
            .into_iter()
            .map(Listed::new)
            .collect();
        map.serialize_entry("voice_states", &voice)?;
        // Discord's GUILD_CREATE writes these two with their guild_id, as the cache keeps them.
        map.serialize_entry("stage_instances", &cache.stage_instances(id))?;
        map.serialize_entry("guild_scheduled_events", &cache.scheduled_events(id))?;
        for key in NOT_KEPT {
            map.serialize_entry(key, &empty)?;
        }
        map.end()
    }
}

struct Members<'a> {
    cache: &'a ShardCache,
    id: Id,
    scope: Option<&'a Scoped>,
}

impl Serialize for Members<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let scope = self.scope;
        s.collect_seq(
            self.cache
                .guild_members(self.id)
                .filter(|m| scope.is_none_or(|s| m.user.is_some_and(|(id, _)| s.keeps(id)))),
        )
    }
}

/// `[{"channel_id", "messages": [oldest … newest]}]`.
struct MessagesOut<'a> {
    cache: &'a ShardCache,
}

impl Serialize for MessagesOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Channel<'a> {
            channel_id: Id,
            messages: Vec<&'a RawValue>,
        }
        let mut channels: Vec<Id> = self.cache.message_channels().collect();
        channels.sort_unstable();
        s.collect_seq(channels.into_iter().map(|channel_id| Channel {
            channel_id,
            messages: self.cache.messages(channel_id),
        }))
    }
}
