//! The seeded world generator: names, guilds, roles, channels and members drawn from a
//! deterministic generator, so that the same configuration gives the same world.

use crate::config::WorldConfig;
use crate::ids::{Rng, snowflake_ms};
use crate::world::{Channel, Guild, Member, Role, User, World};

const ADJECTIVES: &[&str] = &[
    "Cozy",
    "Midnight",
    "Pixel",
    "Rusty",
    "Golden",
    "Silent",
    "Electric",
    "Lunar",
    "Crimson",
    "Wandering",
    "Friendly",
    "Arcane",
];
const NOUNS: &[&str] = &[
    "Lounge",
    "Guild",
    "Hideout",
    "Workshop",
    "Tavern",
    "Harbor",
    "Collective",
    "Garden",
    "Station",
    "Den",
    "Arcade",
    "Library",
];
const CHANNELS: &[&str] = &[
    "general",
    "off-topic",
    "memes",
    "help",
    "announcements",
    "dev",
    "music",
    "gaming",
    "art",
    "introductions",
    "bot-commands",
    "random",
];
const NAMES: &[&str] = &[
    "alex", "sam", "jordan", "riley", "casey", "morgan", "quinn", "avery", "taylor", "jamie",
    "robin", "kai", "noor", "yuki", "mateo", "lena", "omar", "ines", "tomas", "freya",
];

impl World {
    /// Generates the world of a configuration; the same configuration gives the same world.
    pub fn generate(cfg: &WorldConfig) -> Self {
        let mut rng = Rng::new(cfg.seed);
        let mut guilds = Vec::with_capacity(cfg.guilds);
        for _ in 0..cfg.guilds {
            let id = rng.snowflake();
            let name = format!(
                "{} {}",
                rng.pick(ADJECTIVES).copied().unwrap_or("Sim"),
                rng.pick(NOUNS).copied().unwrap_or("Guild")
            );
            let mut roles = vec![Role {
                id,
                name: "@everyone".into(),
                color: 0,
                position: 0,
            }];
            for r in 0..cfg.roles_per_guild {
                roles.push(Role {
                    id: rng.snowflake(),
                    name: format!("role-{}", r + 1),
                    color: (rng.next_u64() & 0xff_ffff) as u32,
                    position: r as u32 + 1,
                });
            }
            let mut channels = Vec::new();
            for c in 0..cfg.channels_per_guild {
                let base = CHANNELS.get(c % CHANNELS.len()).copied().unwrap_or("chat");
                let name = if c < CHANNELS.len() {
                    base.to_owned()
                } else {
                    format!("{base}-{c}")
                };
                channels.push(Channel {
                    id: rng.snowflake(),
                    guild_id: Some(id),
                    kind: 0,
                    name,
                    position: c as u32,
                    recipient: None,
                });
            }
            channels.push(Channel {
                id: rng.snowflake(),
                guild_id: Some(id),
                kind: 2,
                name: "Voice".into(),
                position: 0,
                recipient: None,
            });
            let mut members = Vec::with_capacity(cfg.members_per_guild);
            for m in 0..cfg.members_per_guild {
                let first = rng.pick(NAMES).copied().unwrap_or("user");
                let uid = rng.snowflake();
                let role = roles
                    .get(1 + rng.below(cfg.roles_per_guild as u64) as usize)
                    .map(|r| r.id);
                members.push(Member {
                    user: User {
                        id: uid,
                        username: format!("{first}_{}", uid % 10_000),
                        global_name: Some(format!("{}{}", first[..1].to_uppercase(), &first[1..])),
                        avatar: Some(format!(
                            "{:032x}",
                            u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())
                        )),
                        bot: false,
                    },
                    roles: role.into_iter().collect(),
                    nick: (m % 5 == 0).then(|| format!("{first} the great")),
                    joined_ms: snowflake_ms(id) + rng.below(86_400_000 * 365),
                });
            }
            let owner_id = members.first().map_or(0, |m| m.user.id);
            guilds.push(Guild {
                id,
                name,
                owner_id,
                roles,
                channels,
                members,
            });
        }
        Self { guilds }
    }
}

/// Words for message contents (the load mix's and the churn's).
pub(crate) const WORDS: &[&str] = &[
    "the",
    "build",
    "is",
    "green",
    "again",
    "anyone",
    "up",
    "for",
    "a",
    "match",
    "tonight",
    "?",
    "I",
    "pushed",
    "the",
    "fix",
    "lol",
    "that",
    "was",
    "fast",
    "check",
    "out",
    "this",
    "clip",
    "brb",
    "coffee",
    "ship",
    "it",
    "nice",
    "thanks",
    "<3",
    "deploying",
    "now",
];
