//! The objects written per member: users, members, presences with activities, voice states
//! and messages, in Discord's shape.

use std::fmt::Write;

use crate::corpus::{Rng, User, mix, snowflake, status};
use crate::shape::{ARTISTS, DECOR, FIRST, GAMES, SYLLABLES, Shape, WORDS, hex, iso, sentence};

/// A user object, as Discord sends it inside a member.
pub fn user_json(d: &mut String, user: &User) {
    let mut rng = Rng::new(user.index ^ 0x05E2);
    let first = rng.pick(FIRST);
    let _ = write!(
        d,
        r#"{{"id":"{}","username":"{}{}{}","#,
        user.id,
        first
            .to_lowercase()
            .replace(['ł', 'ë', 'è', 'á', 'ø', 'é', 'ö'], "o"),
        rng.pick(SYLLABLES),
        if rng.chance(500) {
            (rng.below(999)).to_string()
        } else {
            String::new()
        }
    );
    if rng.chance(700) {
        let _ = write!(d, r#""global_name":"{}{}","#, rng.pick(DECOR), first);
    } else {
        d.push_str(r#""global_name":null,"#);
    }
    if rng.chance(100) {
        let _ = write!(d, r#""discriminator":"{:04}","#, 1 + rng.below(9998));
    } else {
        d.push_str(r#""discriminator":"0","#);
    }
    if rng.chance(800) {
        d.push_str(r#""avatar":""#);
        if rng.chance(60) {
            d.push_str("a_");
        }
        hex(d, rng.next(), 16);
        hex(d, rng.next(), 16);
        d.push_str("\",");
    } else {
        d.push_str(r#""avatar":null,"#);
    }
    let flags = [0, 0, 0, 64, 128, 256, 4_194_304][rng.below(7) as usize];
    let _ = write!(
        d,
        r#""public_flags":{flags},"flags":{flags},"banner":null,"accent_color":null,"avatar_decoration_data":null,"primary_guild":null,"collectibles":null,"banner_color":null,"clan":null"#
    );
    if rng.chance(10) {
        d.push_str(r#","bot":true"#);
    }
    d.push('}');
}

/// A member object, with its user when `with_user`.
pub fn member(d: &mut String, user: &User, shape: &Shape, rng: &mut Rng, with_user: bool) {
    d.push('{');
    member_fields(d, user, shape, rng, with_user);
    d.push('}');
}

/// A member's fields, in an object left open.
pub fn member_fields(d: &mut String, user: &User, shape: &Shape, rng: &mut Rng, with_user: bool) {
    if with_user {
        d.push_str(r#""user":"#);
        user_json(d, user);
        d.push(',');
    }
    d.push_str(r#""roles":["#);
    let n = match rng.below(100) {
        0..=34 => 0,
        35..=64 => 1,
        65..=79 => 2,
        80..=89 => 3,
        _ => 4 + rng.below(5),
    };
    for i in 0..n.min(shape.roles.len() as u64) {
        if i > 0 {
            d.push(',');
        }
        let role = shape.roles[rng.below(shape.roles.len() as u64) as usize];
        let _ = write!(d, r#""{role}""#);
    }
    d.push_str("],");
    if rng.chance(150) {
        let _ = write!(
            d,
            r#""nick":"{}{} {}","#,
            rng.pick(DECOR),
            rng.pick(FIRST),
            rng.pick(SYLLABLES)
        );
    } else {
        d.push_str(r#""nick":null,"#);
    }
    if rng.chance(30) {
        d.push_str(r#""avatar":""#);
        hex(d, rng.next(), 32);
        d.push_str("\",");
    } else {
        d.push_str(r#""avatar":null,"#);
    }
    let joined = (shape.id >> 22) + 1_420_070_400_000 + rng.below(200_000_000_000);
    let _ = write!(
        d,
        r#""banner":null,"joined_at":"{}","premium_since":"#,
        iso(joined)
    );
    if rng.chance(20) {
        let _ = write!(d, r#""{}""#, iso(joined + rng.below(10_000_000_000)));
    } else {
        d.push_str("null");
    }
    let _ = write!(
        d,
        r#","deaf":false,"mute":false,"flags":{},"pending":false,"communication_disabled_until":"#,
        if rng.chance(300) { 10 } else { 0 }
    );
    if rng.chance(2) {
        let _ = write!(
            d,
            r#""{}""#,
            iso(1_765_000_000_000 + rng.below(1_000_000_000))
        );
    } else {
        d.push_str("null");
    }
}

/// A presence: in GUILD_CREATE (no `guild_id`) or as a PRESENCE_UPDATE (`guild_id`, and a
/// new activity drawn from `salt`).
pub fn presence(d: &mut String, user: &User, update: Option<(u64, u64)>) {
    let Some(status) = status(user.index) else {
        return;
    };
    let mut rng = Rng::new(user.index ^ 0x9E5 ^ update.map_or(0, |u| u.1));
    let _ = write!(d, r#"{{"user":{{"id":"{}"}},"status":"{status}","#, user.id);
    if let Some((gid, _)) = update {
        let _ = write!(d, r#""guild_id":"{gid}","#);
    }
    let client = match rng.below(10) {
        0..=4 => format!(r#"{{"desktop":"{status}"}}"#),
        5..=7 => format!(r#"{{"mobile":"{status}"}}"#),
        8 => format!(r#"{{"desktop":"{status}","mobile":"{status}"}}"#),
        _ => format!(r#"{{"web":"{status}"}}"#),
    };
    let _ = write!(d, r#""client_status":{client},"activities":["#);
    let now = 1_765_000_000_000 + rng.below(86_400_000);
    let kind = rng.below(100);
    if (45..55).contains(&kind) || kind >= 95 {
        let _ = write!(
            d,
            r#"{{"type":4,"state":"{} {}","name":"Custom Status","id":"custom","created_at":{now}"#,
            rng.pick(WORDS),
            rng.pick(WORDS)
        );
        if rng.chance(500) {
            d.push_str(r#","emoji":{"name":"🔥"}"#);
        }
        d.push('}');
        if kind >= 95 {
            d.push(',');
        }
    }
    if (55..75).contains(&kind) || kind >= 95 {
        let (game, app) = GAMES[rng.below(GAMES.len() as u64) as usize];
        let _ = write!(d, r#"{{"type":0,"name":"{game}","id":""#);
        hex(d, rng.next(), 16);
        let _ = write!(
            d,
            r#"","created_at":{now},"timestamps":{{"start":{}}},"application_id":"{app}""#,
            now - rng.below(7_200_000)
        );
        if rng.chance(500) {
            d.push_str(r#","details":""#);
            sentence(d, &mut rng, 3);
            d.push_str(r#"","state":""#);
            sentence(d, &mut rng, 2);
            d.push_str(r#"","assets":{"large_image":""#);
            hex(d, rng.next(), 16);
            d.push_str(r#"","large_text":"Level 42"}"#);
        }
        d.push('}');
    }
    if (75..95).contains(&kind) {
        let start = now - rng.below(200_000);
        let _ = write!(
            d,
            r#"{{"type":2,"name":"Spotify","id":"spotify:1","flags":48,"created_at":{now},"details":""#
        );
        sentence(d, &mut rng, 3);
        let _ = write!(
            d,
            r#"","state":"{}","timestamps":{{"start":{start},"end":{}}},"assets":{{"large_image":"spotify:ab67616d0000b273"#,
            rng.pick(ARTISTS),
            start + 180_000 + rng.below(120_000)
        );
        hex(d, rng.next(), 16);
        d.push_str(r#"","large_text":""#);
        sentence(d, &mut rng, 2);
        let _ = write!(
            d,
            r#""}},"party":{{"id":"spotify:{}"}},"sync_id":""#,
            user.id
        );
        hex(d, rng.next(), 16);
        d.push_str(r#"","session_id":""#);
        hex(d, rng.next(), 16);
        hex(d, rng.next(), 16);
        d.push_str("\"}");
    }
    d.push_str("]}");
}

/// A voice state: in GUILD_CREATE, or as a VOICE_STATE_UPDATE with its guild and member.
pub fn voice_state(d: &mut String, user: &User, shape: &Shape, update: Option<(u64, &str)>) {
    let _ = write!(
        d,
        r#"{{"user_id":"{}","channel_id":"{}","#,
        user.id,
        shape.voice_channel(user.index)
    );
    if let Some((gid, member)) = update {
        let _ = write!(d, r#""guild_id":"{gid}","member":{member},"#);
    }
    d.push_str(r#""session_id":""#);
    hex(d, mix(user.index), 16);
    hex(d, mix(user.index ^ 1), 16);
    let _ = write!(
        d,
        r#"","deaf":false,"mute":false,"self_deaf":false,"self_mute":{},"self_video":false,"suppress":false,"request_to_speak_timestamp":null}}"#,
        user.index.is_multiple_of(3)
    );
}

pub fn message(d: &mut String, gid: u64, channel: u64, user: &User, shape: &Shape, rng: &mut Rng) {
    let now = 1_765_000_000_000 + rng.below(86_400_000);
    let _ = write!(
        d,
        r#"{{"type":0,"tts":false,"timestamp":"{}","pinned":false,"nonce":"{}","mentions":[],"mention_roles":[],"mention_everyone":false,"member":"#,
        iso(now),
        rng.next() >> 1
    );
    member(d, user, shape, rng, false);
    let _ = write!(
        d,
        r#","id":"{}","flags":0,"embeds":[],"edited_timestamp":null,"content":""#,
        snowflake(now, rng.next())
    );
    let words = 3 + rng.below(25);
    sentence(d, rng, words);
    let _ = write!(
        d,
        r#"","components":[],"channel_type":0,"channel_id":"{channel}","author":"#
    );
    user_json(d, user);
    let _ = write!(d, r#","attachments":[],"guild_id":"{gid}"}}"#);
}
