//! The cache proven against the churn, the fake's seeded stream of every kind of change
//! Discord makes (`switchyard_sim::Churn`): fed that stream, the cache answers exactly what
//! the fake's own state says, and every `old` is the object as the state held it before the
//! event (`state`); every payload of the stream is one Discord's models (twilight-model)
//! read (`models`), and twilight-cache-inmemory fed the same stream agrees with the cache on
//! every field both keep (`twilight`, with `divergence`: where twilight departs from Discord),
//! and twilight-util computes the same permissions (`permissions`).

mod compare;
mod divergence;
mod models;
mod permissions;
mod state;
mod twilight;

use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, ShardCache};
use switchyard_sim::{Churn, ChurnEvent, RECENT_MESSAGES, User, World, WorldConfig};

/// Changes per stream: thousands, over several guilds.
pub const STEPS: u64 = 6_000;

/// The bot the stream is for.
pub fn bot() -> User {
    User {
        id: 1_100_000_000_000_000_042,
        username: "ChurnBot".into(),
        global_name: None,
        avatar: None,
        bot: true,
    }
}

/// A churn over a world of six guilds.
pub fn churn(seed: u64) -> Churn {
    let world = World::generate(&WorldConfig {
        seed,
        guilds: 6,
        ..WorldConfig::default()
    });
    Churn::new(&world, bot(), seed)
}

/// The dispatches a new session gets before the stream: READY, then each guild's
/// GUILD_CREATE as the state shows it now.
pub fn start(churn: &Churn) -> Vec<(&'static str, Value)> {
    let state = churn.state();
    let ids = state.guild_ids();
    let ready = json!({
        "v": 10, "user": bot_json(), "session_type": "normal",
        "guilds": ids.iter().map(|g| json!({"id": g.to_string(), "unavailable": true})).collect::<Vec<_>>(),
        "session_id": "churn", "resume_gateway_url": "ws://127.0.0.1:1",
        "application": {"id": bot().id.to_string(), "flags": 0}, "shard": [0, 1],
        "private_channels": [], "presences": [], "relationships": [], "user_settings": {},
        "guild_join_requests": [], "auth": {}, "_trace": [],
    });
    let mut out = vec![("READY", ready)];
    for g in ids {
        if let Some(d) = state.guild_create(g, &bot(), 250, true) {
            out.push(("GUILD_CREATE", d));
        }
    }
    out
}

/// The stream: [`STEPS`] changes, then the end of every outage and access loss.
pub fn stream(churn: &mut Churn) -> Vec<ChurnEvent> {
    let mut events = churn.run(STEPS);
    events.extend(churn.settle());
    events
}

/// A cache that keeps everything, and as many messages per channel as the state.
pub fn cache() -> ShardCache {
    ShardCache::new(CacheConfig {
        messages: RECENT_MESSAGES,
        ..CacheConfig::all()
    })
}

/// Applies one dispatch; an error is a failure naming the event.
pub fn apply(cache: &mut ShardCache, at: usize, name: &str, d: &Value) -> Option<Value> {
    cache
        .apply(name, &d.to_string())
        .unwrap_or_else(|e| panic!("event #{at} {name}: the cache refused it: {e}\n{d}"))
        .map(|old| serde_json::from_str(old.get()).expect("old is JSON"))
}

/// The bot's user object as the fake's READY writes it.
pub fn bot_json() -> Value {
    let bot = bot();
    json!({
        "id": bot.id.to_string(), "username": bot.username, "discriminator": "0",
        "global_name": null, "avatar": null, "bot": true, "verified": true,
        "mfa_enabled": false, "email": null, "flags": 0, "public_flags": 0,
        "banner": null, "accent_color": null,
    })
}
