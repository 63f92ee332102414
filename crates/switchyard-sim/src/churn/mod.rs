//! The churn: a long, seeded, random scenario of every kind of change Discord makes to the
//! guilds of the world, each applied to a live, Discord-shaped state ([`LiveState`]) and
//! yielded as the dispatches Discord sends for it ([`ChurnEvent`]), in order.
//!
//! One home per kind of change: `members` (joining, leaving, updated, users whose own fields
//! change), `roles`, `channels` (created, updated, overwrites, deleted, access lost and
//! regained), `threads`, `messages`, `activity` (presences and voice states), `expressions`
//! (emojis and stickers), `guilds` (updates and outages) and `stage` (stage instances and
//! scheduled events). Each says which of Discord's rules it follows and where the rule comes
//! from.
//!
//! The same world and seed give the same stream, byte for byte: ids and timestamps come from
//! the churn's own clock, never the wall clock.

mod activity;
mod channels;
mod expressions;
mod guilds;
mod members;
mod messages;
mod roles;
mod stage;
mod state;
mod threads;

use serde_json::Value;

pub use state::{LiveState, RECENT_MESSAGES};

use crate::ids::Rng;
use crate::world::{User, World};

/// One dispatch of the churn.
#[derive(Debug, Clone, PartialEq)]
pub struct ChurnEvent {
    /// The event name, e.g. `GUILD_MEMBER_UPDATE`.
    pub name: &'static str,
    /// The guild it concerns (which picks the shard).
    pub guild_id: u64,
    /// The payload, as Discord sends it.
    pub d: Value,
    /// What the event updates or deletes, as the state held it just before the event, in
    /// the shape Discord sends it (a cache's `old` should equal it): the guild's own fields,
    /// a channel, role, member (with its user), presence, voice state (without `member`),
    /// message, the list of messages of a bulk delete, the emoji or sticker list, a stage
    /// instance or scheduled event. `None` for what creates something.
    pub before: Option<Value>,
}

/// The kinds of change and their weights (in thousandths of the steps).
const KINDS: &[(Kind, u64)] = &[
    (Kind::MessageCreate, 170),
    (Kind::Presence, 110),
    (Kind::MemberUpdate, 85),
    (Kind::Voice, 70),
    (Kind::MessageEdit, 50),
    (Kind::MessageDelete, 35),
    (Kind::MemberJoin, 40),
    (Kind::MemberLeave, 35),
    (Kind::UserUpdate, 20),
    (Kind::ThreadCreate, 25),
    (Kind::ThreadUpdate, 20),
    (Kind::ThreadDelete, 15),
    (Kind::ChannelCreate, 20),
    (Kind::ChannelUpdate, 25),
    (Kind::Overwrites, 30),
    (Kind::ChannelDelete, 15),
    (Kind::ChannelAccess, 15),
    (Kind::RoleCreate, 20),
    (Kind::RoleUpdate, 25),
    (Kind::RoleDelete, 15),
    (Kind::MessageBulkDelete, 15),
    (Kind::Emojis, 20),
    (Kind::Stickers, 15),
    (Kind::GuildUpdate, 20),
    (Kind::Stage, 15),
    (Kind::ScheduledEvent, 15),
    (Kind::Outage, 10),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MemberJoin,
    MemberLeave,
    MemberUpdate,
    UserUpdate,
    RoleCreate,
    RoleUpdate,
    RoleDelete,
    ChannelCreate,
    ChannelUpdate,
    Overwrites,
    ChannelDelete,
    ChannelAccess,
    ThreadCreate,
    ThreadUpdate,
    ThreadDelete,
    MessageCreate,
    MessageEdit,
    MessageDelete,
    MessageBulkDelete,
    Presence,
    Voice,
    Emojis,
    Stickers,
    GuildUpdate,
    Outage,
    Stage,
    ScheduledEvent,
}

impl Kind {
    /// Whether the change can happen in a guild in an outage, unseen: what GUILD_CREATE
    /// carries can (the GUILD_CREATE that ends the outage shows it); messages cannot (no
    /// event would ever tell), nor access changes or another outage.
    fn silent_ok(self) -> bool {
        !matches!(
            self,
            Kind::MessageCreate
                | Kind::MessageEdit
                | Kind::MessageDelete
                | Kind::MessageBulkDelete
                | Kind::ChannelAccess
                | Kind::Outage
        )
    }
}

/// The generator: the live state, its seeded random source, and the bot whose GUILD_CREATE
/// ends an outage in the stream.
#[derive(Debug, Clone)]
pub struct Churn {
    state: LiveState,
    rng: Rng,
    seed: u64,
    steps: u64,
    bot: User,
}

/// What one change works on: the state, the random source, the guild it happens in, and
/// the dispatches it yields.
pub(crate) struct Ctx<'a> {
    pub state: &'a mut LiveState,
    pub rng: &'a mut Rng,
    pub guild: u64,
    pub bot: &'a User,
    out: &'a mut Vec<ChurnEvent>,
}

impl Ctx<'_> {
    /// Yields a dispatch about `guild`, unless that guild is in an outage (Discord sends
    /// nothing about it meanwhile; its GUILD_CREATE shows the result).
    pub fn emit_in(&mut self, guild: u64, name: &'static str, d: Value, before: Option<Value>) {
        if self.state.guild_unavailable(guild) == Some(true) {
            return;
        }
        self.out.push(ChurnEvent {
            name,
            guild_id: guild,
            d,
            before,
        });
    }

    /// Yields a dispatch about this change's guild (see [`Ctx::emit_in`]).
    pub fn emit(&mut self, name: &'static str, d: Value, before: Option<Value>) {
        self.emit_in(self.guild, name, d, before);
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.rng.below(100) < percent
    }

    /// One of `items`, if any.
    pub fn pick<T: Clone>(&mut self, items: &[T]) -> Option<T> {
        self.rng.pick(items).cloned()
    }

    /// The guild's id as Discord writes it.
    pub fn gid(&self) -> String {
        self.guild.to_string()
    }
}

impl Churn {
    /// A churn over `world`, from the state its GUILD_CREATEs show, seeded with `seed`;
    /// `bot` is the bot the stream's GUILD_CREATEs (after an outage) are rendered for.
    pub fn new(world: &World, bot: User, seed: u64) -> Self {
        Churn {
            state: LiveState::from_world(world),
            rng: Rng::new(seed ^ 0xC4_0221),
            seed,
            steps: 0,
            bot,
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many changes were applied so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The state now.
    pub fn state(&self) -> &LiveState {
        &self.state
    }

    /// The bot the stream's GUILD_CREATEs are rendered for.
    pub fn bot(&self) -> &User {
        &self.bot
    }

    /// Applies `steps` changes; returns their dispatches, in order.
    pub fn run(&mut self, steps: u64) -> Vec<ChurnEvent> {
        let mut out = Vec::new();
        for _ in 0..steps {
            out.extend(self.step());
        }
        out
    }

    /// Applies one change (in a random guild, of a random kind; in a guild in an outage,
    /// its end or an unseen change); returns its dispatches (none when unseen).
    pub fn step(&mut self) -> Vec<ChurnEvent> {
        self.steps += 1;
        let ms = 200 + self.rng.below(4_800);
        self.state.tick(ms);
        let ids = self.state.guild_ids();
        let Some(guild) = self.rng.pick(&ids).copied() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let unavailable = self.state.guild_unavailable(guild) == Some(true);
        let mut cx = Ctx {
            state: &mut self.state,
            rng: &mut self.rng,
            guild,
            bot: &self.bot,
            out: &mut out,
        };
        if unavailable && cx.chance(35) {
            guilds::recover(&mut cx);
            return out;
        }
        // a kind that cannot apply (nothing to delete, a limit reached) gives way to another
        for _ in 0..8 {
            let kind = pick_kind(cx.rng);
            if unavailable && !kind.silent_ok() {
                continue;
            }
            if apply(&mut cx, kind) {
                break;
            }
        }
        out
    }

    /// Ends every access loss and outage: the hidden channels become visible again (with
    /// their THREAD_LIST_SYNC) and the guilds in an outage available (with their
    /// GUILD_CREATE), so that a cache that followed the stream can know everything.
    pub fn settle(&mut self) -> Vec<ChurnEvent> {
        let mut out = Vec::new();
        for guild in self.state.guild_ids() {
            let mut cx = Ctx {
                state: &mut self.state,
                rng: &mut self.rng,
                guild,
                bot: &self.bot,
                out: &mut out,
            };
            if cx.state.guild_unavailable(guild) == Some(true) {
                guilds::recover(&mut cx);
            }
            channels::reveal_all(&mut cx);
        }
        out
    }
}

fn pick_kind(rng: &mut Rng) -> Kind {
    let total: u64 = KINDS.iter().map(|(_, w)| w).sum();
    let mut roll = rng.below(total);
    for (kind, w) in KINDS {
        if roll < *w {
            return *kind;
        }
        roll -= w;
    }
    Kind::MessageCreate
}

/// Applies one change of `kind`; false when it cannot apply now.
fn apply(cx: &mut Ctx<'_>, kind: Kind) -> bool {
    match kind {
        Kind::MemberJoin => members::join(cx),
        Kind::MemberLeave => members::leave(cx),
        Kind::MemberUpdate => members::update(cx),
        Kind::UserUpdate => members::user_update(cx),
        Kind::RoleCreate => roles::create(cx),
        Kind::RoleUpdate => roles::update(cx),
        Kind::RoleDelete => roles::delete(cx),
        Kind::ChannelCreate => channels::create(cx),
        Kind::ChannelUpdate => channels::update(cx),
        Kind::Overwrites => channels::overwrites(cx),
        Kind::ChannelDelete => channels::delete(cx),
        Kind::ChannelAccess => channels::access(cx),
        Kind::ThreadCreate => threads::create(cx),
        Kind::ThreadUpdate => threads::update(cx),
        Kind::ThreadDelete => threads::delete(cx),
        Kind::MessageCreate => messages::create(cx),
        Kind::MessageEdit => messages::edit(cx),
        Kind::MessageDelete => messages::delete(cx),
        Kind::MessageBulkDelete => messages::bulk_delete(cx),
        Kind::Presence => activity::presence(cx),
        Kind::Voice => activity::voice(cx),
        Kind::Emojis => expressions::emojis(cx),
        Kind::Stickers => expressions::stickers(cx),
        Kind::GuildUpdate => guilds::update(cx),
        Kind::Outage => guilds::outage(cx),
        Kind::Stage => stage::stage_instance(cx),
        Kind::ScheduledEvent => stage::scheduled_event(cx),
    }
}

/// `n` words.
pub(crate) fn words(rng: &mut Rng, n: u64) -> String {
    (0..n.max(1))
        .map(|_| rng.pick(crate::worldgen::WORDS).copied().unwrap_or("ok"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A 32-hex-digit image hash.
pub(crate) fn hash(rng: &mut Rng) -> String {
    format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorldConfig;

    fn bot() -> User {
        User {
            id: 42,
            username: "bot".into(),
            global_name: None,
            avatar: None,
            bot: true,
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
        let world = World::generate(&WorldConfig::default());
        let a = Churn::new(&world, bot(), 7).run(500);
        let b = Churn::new(&world, bot(), 7).run(500);
        assert_eq!(a, b);
        let c = Churn::new(&world, bot(), 8).run(500);
        assert_ne!(a, c);
        assert!(a.len() >= 400, "{} events", a.len());
    }

    #[test]
    fn every_kind_of_change_happens() {
        let world = World::generate(&WorldConfig::default());
        let mut churn = Churn::new(&world, bot(), 3);
        let mut events = churn.run(3_000);
        events.extend(churn.settle());
        let names: std::collections::BTreeSet<&str> = events.iter().map(|e| e.name).collect();
        for name in [
            "GUILD_MEMBER_ADD",
            "GUILD_MEMBER_UPDATE",
            "GUILD_MEMBER_REMOVE",
            "GUILD_ROLE_CREATE",
            "GUILD_ROLE_UPDATE",
            "GUILD_ROLE_DELETE",
            "CHANNEL_CREATE",
            "CHANNEL_UPDATE",
            "CHANNEL_DELETE",
            "THREAD_CREATE",
            "THREAD_UPDATE",
            "THREAD_DELETE",
            "THREAD_LIST_SYNC",
            "MESSAGE_CREATE",
            "MESSAGE_UPDATE",
            "MESSAGE_DELETE",
            "MESSAGE_DELETE_BULK",
            "PRESENCE_UPDATE",
            "VOICE_STATE_UPDATE",
            "GUILD_EMOJIS_UPDATE",
            "GUILD_STICKERS_UPDATE",
            "GUILD_UPDATE",
            "GUILD_DELETE",
            "GUILD_CREATE",
            "STAGE_INSTANCE_CREATE",
            "STAGE_INSTANCE_UPDATE",
            "STAGE_INSTANCE_DELETE",
            "GUILD_SCHEDULED_EVENT_CREATE",
            "GUILD_SCHEDULED_EVENT_UPDATE",
            "GUILD_SCHEDULED_EVENT_DELETE",
        ] {
            assert!(names.contains(name), "no {name} in {names:?}");
        }
        assert!(churn.state().hidden_channels().is_empty());
        let world_ids: Vec<u64> = world.guilds.iter().map(|g| g.id).collect();
        for g in world_ids {
            assert_eq!(churn.state().guild_unavailable(g), Some(false));
        }
    }
}
