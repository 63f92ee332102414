//! The fixed, realistic payload mix of load mode: dispatch payloads pre-rendered once from the
//! world (deterministically from its seed), so that producing an event costs one copy.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::ids::{Rng, iso8601, snowflake};
use crate::world::World;
use switchyard_core::gateway_proto::intents;

/// One pre-rendered dispatch.
#[derive(Debug, Clone)]
pub struct Prerendered {
    /// Event name.
    pub name: Arc<str>,
    /// Its guild (picks the shard).
    pub guild_id: u64,
    /// The intent bit it needs.
    pub intent: Option<u64>,
    /// The `d` payload as JSON text.
    pub d: Arc<str>,
    /// The `d` payload for sessions without MESSAGE_CONTENT (messages only).
    pub d_stripped: Option<Arc<str>>,
}

/// Event types of the mix and their weights (per cent).
pub const WEIGHTS: &[(&str, u64)] = &[
    ("MESSAGE_CREATE", 35),
    ("PRESENCE_UPDATE", 20),
    ("TYPING_START", 15),
    ("MESSAGE_REACTION_ADD", 12),
    ("GUILD_MEMBER_UPDATE", 10),
    ("VOICE_STATE_UPDATE", 8),
];

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words)
        .map(|_| rng.pick(crate::worldgen::WORDS).copied().unwrap_or("ok"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds `count` pre-rendered events from the world; the same world gives the same mix.
pub fn build(world: &World, seed: u64, count: usize) -> Vec<Prerendered> {
    let mut rng = Rng::new(seed ^ 0x10AD);
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut out = Vec::with_capacity(count);
    let now = 1_735_689_600_000 + rng.below(86_400_000); // fixed: same seed, same bytes
    for _ in 0..count {
        let Some(guild) = rng.pick(&world.guilds) else {
            break;
        };
        let Some(member) = rng.pick(&guild.members) else {
            continue;
        };
        let text: Vec<_> = guild.channels.iter().filter(|c| c.kind == 0).collect();
        let Some(channel) = rng.pick(&text) else {
            continue;
        };
        let mut roll = rng.below(total);
        let name = WEIGHTS
            .iter()
            .find(|(_, w)| {
                if roll < *w {
                    true
                } else {
                    roll -= w;
                    false
                }
            })
            .map_or("MESSAGE_CREATE", |(n, _)| n);
        let gid = guild.id.to_string();
        let (d, stripped): (Value, Option<Value>) = match name {
            "MESSAGE_CREATE" => {
                let n = 4 + rng.below(40) as usize;
                let mut d = json!({
                    "type": 0, "tts": false, "timestamp": iso8601(now), "pinned": false,
                    "nonce": rng.next_u64().to_string(), "mentions": [], "mention_roles": [],
                    "mention_everyone": false, "member": member.to_json(false),
                    "id": snowflake(now, rng.next_u64()).to_string(), "flags": 0, "embeds": [],
                    "edited_timestamp": null, "content": sentence(&mut rng, n), "components": [],
                    "channel_type": 0, "channel_id": channel.id.to_string(),
                    "author": member.user.to_json(), "attachments": [], "guild_id": gid,
                });
                if rng.below(4) == 0 {
                    d["embeds"] = json!([{"type": "rich", "title": sentence(&mut rng, 5), "description": sentence(&mut rng, 20), "color": 5_814_783, "url": "https://example.invalid/post"}]);
                }
                let mut s = d.clone();
                intents::strip_content(&mut s);
                (d, Some(s))
            }
            "PRESENCE_UPDATE" => (
                json!({
                    "user": {"id": member.user.id.to_string()}, "status": "online", "guild_id": gid,
                    "client_status": {"desktop": "online", "mobile": "idle"},
                    "activities": [{
                        "type": 0, "name": "Some Game", "id": format!("{:x}", rng.next_u64()),
                        "details": sentence(&mut rng, 4), "state": sentence(&mut rng, 3),
                        "created_at": now, "timestamps": {"start": now - 600_000},
                        "application_id": snowflake(1_500_000_000_000, rng.next_u64()).to_string(),
                        "assets": {"large_image": format!("{:x}", rng.next_u64()), "large_text": "Level 42"},
                    }],
                }),
                None,
            ),
            "TYPING_START" => (
                json!({
                    "user_id": member.user.id.to_string(), "timestamp": now / 1000,
                    "member": member.to_json(true), "channel_id": channel.id.to_string(), "guild_id": gid,
                }),
                None,
            ),
            "MESSAGE_REACTION_ADD" => (
                json!({
                    "user_id": member.user.id.to_string(), "type": 0, "message_id": snowflake(now, rng.next_u64()).to_string(),
                    "message_author_id": guild.owner_id.to_string(), "member": member.to_json(true),
                    "emoji": {"name": "🔥", "id": null}, "channel_id": channel.id.to_string(), "burst": false,
                    "burst_colors": [], "guild_id": gid,
                }),
                None,
            ),
            "GUILD_MEMBER_UPDATE" => {
                let mut d = member.to_json(true);
                d["guild_id"] = json!(gid);
                d["nick"] = json!(sentence(&mut rng, 2));
                (d, None)
            }
            _ => (
                json!({
                    "member": member.to_json(true), "user_id": member.user.id.to_string(),
                    "suppress": false, "session_id": format!("{:032x}", rng.next_u64()),
                    "self_video": false, "self_mute": rng.below(2) == 0, "self_deaf": false,
                    "request_to_speak_timestamp": null, "mute": false, "deaf": false,
                    "channel_id": guild.channels.last().map(|c| c.id.to_string()), "guild_id": gid,
                }),
                None,
            ),
        };
        out.push(Prerendered {
            name: Arc::from(name),
            guild_id: guild.id,
            intent: intents::required(name, true),
            d: Arc::from(d.to_string()),
            d_stripped: stripped.map(|s| Arc::from(s.to_string())),
        });
    }
    out
}

/// Mean size in bytes of the full dispatch frames of a mix (with an 8-digit sequence number).
pub fn mean_frame_size(mix: &[Prerendered]) -> f64 {
    if mix.is_empty() {
        return 0.0;
    }
    let total: usize = mix
        .iter()
        .map(|p| p.d.len() + p.name.len() + r#"{"t":"","s":12345678,"op":0,"d":}"#.len())
        .sum();
    total as f64 / mix.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WorldConfig;

    #[test]
    fn mix_is_deterministic_realistic_and_large_enough() {
        let world = World::generate(&WorldConfig::default());
        let a = build(&world, 1, 256);
        assert_eq!(a.len(), 256);
        let b = build(&world, 1, 256);
        assert!(a.iter().zip(&b).all(|(x, y)| x.d == y.d));
        let mean = mean_frame_size(&a);
        assert!(mean >= 700.0, "mean frame {mean} bytes");
        for (name, _) in WEIGHTS {
            assert!(a.iter().any(|p| &*p.name == *name), "{name} in the mix");
        }
        for p in &a {
            let v: Value = serde_json::from_str(&p.d).expect("valid json");
            assert_eq!(v["guild_id"], p.guild_id.to_string());
        }
    }
}
