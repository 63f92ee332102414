//! A guild's own fields and lists (roles, channels, emojis, stickers), the word lists names
//! are drawn from, and the small writers every object uses.

use std::fmt::Write;

use crate::corpus::{Rng, snowflake};

pub const SYLLABLES: &[&str] = &[
    "ka", "ri", "to", "mo", "lu", "xen", "dra", "vi", "no", "sha", "el", "ar", "zu", "pix", "ne",
    "fox", "sky", "wolf", "neo", "byte", "ash", "ly", "mi", "sa", "tor", "jin", "ra", "kai",
];
pub const FIRST: &[&str] = &[
    "Alex", "Sam", "Jordan", "Riley", "Casey", "Morgan", "Quinn", "Avery", "Taylor", "Jamie",
    "Robin", "Kai", "Noor", "Yuki", "Mateo", "Lena", "Omar", "Inès", "Tomás", "Freya", "Łukasz",
    "Zoë", "Søren", "Aiko", "Chloé", "Björn", "Mei", "Dmitri", "Ana", "José",
];
pub const DECOR: &[&str] = &["", "", "", "", "✨ ", "🌙 ", "[GM] ", "~ ", "🔥 "];
pub const WORDS: &[&str] = &[
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
    "I",
    "pushed",
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
    "deploying",
    "now",
    "raid",
    "at",
    "nine",
];
pub const GAMES: &[(&str, u64)] = &[
    ("League of Legends", 401_518_684_763_586_560),
    ("Minecraft", 356_875_570_916_753_438),
    ("Valorant", 700_136_079_562_375_258),
    ("Counter-Strike 2", 1_158_877_933_042_143_272),
    ("Fortnite", 432_980_957_394_370_572),
    ("Visual Studio Code", 383_226_320_970_055_681),
    ("Genshin Impact", 762_434_991_303_950_386),
    ("Rocket League", 356_877_880_938_070_016),
    ("Overwatch 2", 356_875_221_078_245_376),
    ("Apex Legends", 542_075_586_886_107_149),
    ("Stardew Valley", 356_877_257_622_102_017),
    ("Roblox", 363_445_589_247_131_668),
];
pub const ARTISTS: &[&str] = &[
    "Daft Punk",
    "Billie Eilish",
    "The Weeknd",
    "Taylor Swift",
    "Kendrick Lamar",
    "Aurora",
    "Hania Rani",
    "Bad Bunny",
    "Radiohead",
    "Nujabes",
];

/// ISO 8601 in Discord's form for member timestamps: microseconds and `+00:00`.
pub fn iso(ms: u64) -> String {
    let secs = ms / 1000;
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{:06}+00:00",
        (ms % 1000) * 1000
    )
}

pub fn hex(d: &mut String, mut v: u64, digits: usize) {
    for _ in 0..digits {
        d.push(char::from(b"0123456789abcdef"[(v & 15) as usize]));
        v = v.rotate_right(4);
    }
}

pub fn sentence(d: &mut String, rng: &mut Rng, words: u64) {
    for i in 0..words {
        if i > 0 {
            d.push(' ');
        }
        d.push_str(rng.pick(WORDS));
    }
}

/// A guild's roles and channels (ids only: their fields are written once, in GUILD_CREATE).
pub struct Shape {
    pub id: u64,
    pub roles: Vec<u64>,
    /// (id, type): 4 category, 0 text, 2 voice, 5 announcement.
    channels: Vec<(u64, u8)>,
    emojis: u64,
    stickers: u64,
}

impl Shape {
    pub fn new(id: u64, size: u64, rng: &mut Rng) -> Self {
        let scale = (size as f64).sqrt();
        let roles = (4 + (scale / 2.0) as u64).min(250);
        let channels = (6 + (scale / 3.0) as u64).min(200);
        let born = (id >> 22) + 1_420_070_400_000;
        Shape {
            id,
            roles: (0..roles)
                .map(|i| snowflake(born + i * 1000, rng.next()))
                .collect(),
            channels: (0..channels)
                .map(|i| {
                    let kind = match i % 8 {
                        0 => 4,
                        5 | 6 => 2,
                        7 => 5,
                        _ => 0,
                    };
                    (snowflake(born + 500 + i * 1000, rng.next()), kind)
                })
                .collect(),
            emojis: (scale as u64).min(50),
            stickers: (scale as u64 / 20).min(5),
        }
    }

    pub fn text_channels(&self) -> Vec<u64> {
        self.channels
            .iter()
            .filter(|c| c.1 == 0)
            .map(|c| c.0)
            .collect()
    }

    pub fn voice_channel(&self, salt: u64) -> u64 {
        let voice: Vec<u64> = self
            .channels
            .iter()
            .filter(|c| c.1 == 2)
            .map(|c| c.0)
            .collect();
        voice[(salt % voice.len() as u64) as usize]
    }

    /// The guild object's own fields and its lists other than members, presences and voice
    /// states, leaving the object open.
    pub fn guild_fields(&self, d: &mut String, size: u64, rng: &mut Rng) {
        let id = self.id;
        let owner = snowflake(1_430_000_000_000, id);
        let _ = write!(
            d,
            r#"{{"id":"{id}","name":"{} {}","icon":"#,
            rng.pick(FIRST),
            rng.pick(&[
                "Lounge",
                "Guild",
                "Hideout",
                "Workshop",
                "Tavern",
                "Collective"
            ])
        );
        d.push('"');
        hex(d, rng.next(), 32);
        let _ = write!(
            d,
            r#"","icon_hash":null,"splash":null,"discovery_splash":null,"owner_id":"{owner}","region":"deprecated","afk_channel_id":null,"afk_timeout":300,"widget_enabled":false,"widget_channel_id":null,"verification_level":{},"default_message_notifications":1,"explicit_content_filter":2,"features":["#,
            1 + rng.below(3)
        );
        if size > 1000 {
            d.push_str(r#""COMMUNITY","NEWS","WELCOME_SCREEN_ENABLED","MEMBER_VERIFICATION_GATE_ENABLED","PREVIEW_ENABLED","INVITE_SPLASH","ANIMATED_ICON""#);
        }
        let _ = write!(
            d,
            r#"],"mfa_level":1,"application_id":null,"system_channel_id":"{}","system_channel_flags":0,"rules_channel_id":null,"max_presences":null,"max_members":500000,"vanity_url_code":null,"description":null,"banner":null,"premium_tier":{},"premium_subscription_count":{},"preferred_locale":"en-US","public_updates_channel_id":null,"max_video_channel_users":25,"max_stage_video_channel_users":50,"nsfw_level":0,"premium_progress_bar_enabled":false,"safety_alerts_channel_id":null,"incidents_data":null,"joined_at":"{}","large":{},"unavailable":false,"member_count":{size},"lazy":true,"threads":[],"stage_instances":[],"guild_scheduled_events":[],"soundboard_sounds":[],"roles":["#,
            self.channels[1].0,
            rng.below(4),
            rng.below(30),
            iso(1_600_000_000_000 + rng.below(100_000_000_000)),
            size > 250
        );
        for (i, role) in std::iter::once(&id).chain(&self.roles).enumerate() {
            if i > 0 {
                d.push(',');
            }
            let name = if i == 0 {
                "@everyone".to_owned()
            } else {
                format!(
                    "{} {}",
                    rng.pick(SYLLABLES),
                    rng.pick(&[
                        "Mods", "Members", "Gamers", "Artists", "Helpers", "VIP", "Regulars",
                        "Ping"
                    ])
                )
            };
            let color = rng.below(0xFF_FFFF);
            let _ = write!(
                d,
                r#"{{"id":"{role}","name":"{name}","color":{color},"colors":{{"primary_color":{color},"secondary_color":null,"tertiary_color":null}},"hoist":{},"icon":null,"unicode_emoji":null,"position":{i},"permissions":"{}","managed":false,"mentionable":{},"flags":0,"description":null}}"#,
                rng.chance(200),
                rng.next() & 0x7_FFFF_FFFF_FFFF,
                rng.chance(300)
            );
        }
        d.push_str(r#"],"channels":["#);
        let mut parent = None;
        for (i, (cid, kind)) in self.channels.iter().enumerate() {
            if i > 0 {
                d.push(',');
            }
            let name = format!("{}-{}", rng.pick(WORDS), rng.pick(SYLLABLES));
            let parent_json = parent.map_or("null".to_owned(), |p| format!(r#""{p}""#));
            let _ = write!(
                d,
                r#"{{"id":"{cid}","type":{kind},"name":"{name}","position":{i},"flags":0,"parent_id":{parent_json},"permission_overwrites":[{{"id":"{id}","type":0,"allow":"0","deny":"2048"}}]"#
            );
            match kind {
                4 => parent = Some(*cid),
                2 => d.push_str(r#","bitrate":64000,"user_limit":0,"rtc_region":null,"nsfw":false,"rate_limit_per_user":0,"last_message_id":null}"#),
                _ => {
                    let _ = write!(d, r#","topic":"Talk about {name} here","nsfw":false,"rate_limit_per_user":0,"last_message_id":"{}"}}"#, cid + 1);
                }
            }
            if *kind == 4 {
                d.push('}');
            }
        }
        d.push_str(r#"],"emojis":["#);
        for i in 0..self.emojis {
            if i > 0 {
                d.push(',');
            }
            let _ = write!(
                d,
                r#"{{"id":"{}","name":"{}{}","roles":[],"require_colons":true,"managed":false,"animated":{},"available":true}}"#,
                snowflake(1_500_000_000_000 + i, id ^ i),
                rng.pick(SYLLABLES),
                rng.pick(SYLLABLES),
                rng.chance(200)
            );
        }
        d.push_str(r#"],"stickers":["#);
        for i in 0..self.stickers {
            if i > 0 {
                d.push(',');
            }
            let _ = write!(
                d,
                r#"{{"id":"{}","name":"{}","tags":"smile","type":2,"format_type":1,"description":"a sticker","asset":"","available":true,"guild_id":"{id}"}}"#,
                snowflake(1_600_000_000_000 + i, id ^ i),
                rng.pick(SYLLABLES)
            );
        }
        d.push(']');
    }
}
