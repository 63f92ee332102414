//! The generated corpus: a seeded world of thousands of guilds and a million members (a few
//! huge guilds, many small ones; users shared between guilds; names, nicknames, avatars,
//! roles; presences with activities for the online part), written as the dispatches Discord
//! sends a bot with every intent: READY, GUILD_CREATE (all members of small guilds, the online
//! ones of large guilds with their presences), GUILD_MEMBERS_CHUNK for the rest of large
//! guilds, then some updates and messages. The same seed gives the same events, byte for
//! byte, so that both caches are fed the same stream.

use std::fmt::Write;

use crate::objects::{member, member_fields, message, presence, user_json, voice_state};
use crate::shape::Shape;

/// A small seeded generator (SplitMix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    pub fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One generated user: the same every time it appears.
pub struct User {
    pub id: u64,
    pub index: u64,
}

/// The world's shape: guild sizes and ids; everything else is derived on the fly.
pub struct Corpus {
    seed: u64,
    /// Guild member counts, largest first.
    pub sizes: Vec<u64>,
    users: u64,
}

/// Where the events go: the event name and its `d`.
pub type Sink<'a> = dyn FnMut(&str, &str) + 'a;

impl Corpus {
    /// `guilds` guilds with `members` members in total over `users` distinct possible users,
    /// sized by Zipf's law (exponent 1) with at least 8 members each.
    pub fn new(seed: u64, guilds: usize, members: u64, users: u64) -> Self {
        let weights: Vec<f64> = (1..=guilds).map(|i| 1.0 / i as f64).collect();
        let total: f64 = weights.iter().sum();
        let spare = members - 8 * guilds as u64;
        let mut sizes: Vec<u64> = weights
            .iter()
            .map(|w| 8 + (w / total * spare as f64) as u64)
            .collect();
        let sum: u64 = sizes.iter().sum();
        sizes[0] += members - sum;
        Corpus { seed, sizes, users }
    }

    pub fn members(&self) -> u64 {
        self.sizes.iter().sum()
    }

    fn guild_id(&self, g: usize) -> u64 {
        snowflake(
            1_450_000_000_000 + (g as u64) * 97_000_000,
            self.seed ^ g as u64,
        )
    }

    /// Feeds every event to `sink`, in Discord's order.
    pub fn feed(&self, sink: &mut Sink<'_>) {
        let mut d = String::with_capacity(1 << 20);
        // READY: the bot and its guilds, unavailable until their GUILD_CREATE.
        d.push_str(r#"{"v":10,"user":{"id":"1100000000000000001","username":"switchyard","discriminator":"0","global_name":null,"avatar":null,"bot":true,"verified":true,"flags":0,"mfa_enabled":false},"guilds":["#);
        for g in 0..self.sizes.len() {
            if g > 0 {
                d.push(',');
            }
            let _ = write!(d, r#"{{"id":"{}","unavailable":true}}"#, self.guild_id(g));
        }
        d.push_str(r#"],"session_id":"5d3f0b0c1e2f","resume_gateway_url":"wss://gateway.discord.gg","shard":[0,1],"application":{"id":"1100000000000000001","flags":0},"private_channels":[],"presences":[]}"#);
        sink("READY", &d);
        for g in 0..self.sizes.len() {
            self.guild(g, sink, &mut d);
        }
        for g in 0..self.sizes.len() {
            self.updates(g, sink, &mut d);
        }
    }

    /// The `k`-th member of guild `g`: distinct within the guild, shared between guilds.
    fn member_user(&self, g: usize, k: u64) -> User {
        let start = mix(self.seed ^ (g as u64) << 20) % self.users;
        let index = (start + k * 7_919) % self.users; // 7,919 is prime, `users` is not a multiple
        User {
            id: snowflake(1_420_070_400_000 + index * 2_000_000, index),
            index,
        }
    }

    fn guild(&self, g: usize, sink: &mut Sink<'_>, d: &mut String) {
        let gid = self.guild_id(g);
        let size = self.sizes[g];
        let mut rng = Rng::new(self.seed ^ mix(gid));
        let shape = Shape::new(gid, size, &mut rng);
        let large = size > 250;
        d.clear();
        shape.guild_fields(d, size, &mut rng);
        d.push_str(r#","members":["#);
        let mut first = true;
        let mut online = Vec::new();
        for k in 0..size {
            let user = self.member_user(g, k);
            let is_online = status(user.index).is_some();
            if is_online {
                online.push(k);
            }
            if large && !is_online {
                continue;
            }
            if !first {
                d.push(',');
            }
            first = false;
            member(d, &user, &shape, &mut rng, true);
        }
        d.push_str(r#"],"presences":["#);
        for (i, k) in online.iter().enumerate() {
            if i > 0 {
                d.push(',');
            }
            presence(d, &self.member_user(g, *k), None);
        }
        d.push_str(r#"],"voice_states":["#);
        let mut first = true;
        for k in &online {
            let user = self.member_user(g, *k);
            if mix(user.index ^ gid).is_multiple_of(100) {
                if !first {
                    d.push(',');
                }
                first = false;
                voice_state(d, &user, &shape, None);
            }
        }
        d.push_str("]}");
        sink("GUILD_CREATE", d);
        if !large {
            return;
        }
        // The offline members, asked for with op 8, in chunks of 1,000.
        let offline: Vec<u64> = (0..size)
            .filter(|k| status(self.member_user(g, *k).index).is_none())
            .collect();
        let count = offline.len().div_ceil(1000);
        for (i, chunk) in offline.chunks(1000).enumerate() {
            d.clear();
            let _ = write!(d, r#"{{"guild_id":"{gid}","members":["#);
            for (j, k) in chunk.iter().enumerate() {
                if j > 0 {
                    d.push(',');
                }
                member(d, &self.member_user(g, *k), &shape, &mut rng, true);
            }
            let _ = write!(
                d,
                r#"],"chunk_index":{i},"chunk_count":{count},"not_found":[],"nonce":"{gid}"}}"#
            );
            sink("GUILD_MEMBERS_CHUNK", d);
        }
    }

    /// After the start: presence changes, member updates, voice moves and messages.
    fn updates(&self, g: usize, sink: &mut Sink<'_>, d: &mut String) {
        let gid = self.guild_id(g);
        let size = self.sizes[g];
        let mut rng = Rng::new(self.seed ^ mix(gid) ^ 0xDA7A);
        let shape = Shape::new(gid, size, &mut Rng::new(self.seed ^ mix(gid)));
        for _ in 0..size.div_ceil(100) {
            let user = self.member_user(g, rng.below(size));
            d.clear();
            if status(user.index).is_some() {
                presence(d, &user, Some((gid, rng.next())));
                sink("PRESENCE_UPDATE", d);
            } else {
                let _ = write!(d, r#"{{"guild_id":"{gid}","#);
                member_fields(d, &user, &shape, &mut rng, true);
                d.push('}');
                sink("GUILD_MEMBER_UPDATE", d);
            }
        }
        // Some join a voice channel, and some leave the guild.
        for _ in 0..size.div_ceil(1000) {
            let user = self.member_user(g, rng.below(size));
            d.clear();
            let mut m = String::new();
            member(&mut m, &user, &shape, &mut rng, true);
            voice_state(d, &user, &shape, Some((gid, &m)));
            sink("VOICE_STATE_UPDATE", d);
            let user = self.member_user(g, rng.below(size));
            d.clear();
            let _ = write!(d, r#"{{"guild_id":"{gid}","user":"#);
            user_json(d, &user);
            d.push('}');
            sink("GUILD_MEMBER_REMOVE", d);
        }
        let text = shape.text_channels();
        for i in 0..(5 + size / 2_000).min(50) {
            let user = self.member_user(g, rng.below(size));
            let channel = text[(i % text.len() as u64) as usize];
            d.clear();
            message(d, gid, channel, &user, &shape, &mut rng);
            sink("MESSAGE_CREATE", d);
        }
    }
}

/// A Discord snowflake at `ms` (Unix milliseconds), with low bits from `salt`.
pub fn snowflake(ms: u64, salt: u64) -> u64 {
    ((ms + 1 - 1_420_070_400_000) << 22) | (mix(salt) & 0x3F_FFFF)
}

/// A user's status, from its index: about a fifth is online, idle or dnd.
pub fn status(index: u64) -> Option<&'static str> {
    match mix(index ^ 0x57A7) % 100 {
        0..=12 => Some("online"),
        13..=17 => Some("idle"),
        18..=21 => Some("dnd"),
        _ => None,
    }
}
