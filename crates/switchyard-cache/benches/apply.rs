//! CPU of [`ShardCache::apply`] on the fake Discord's realistic mix (the payloads `switchyard
//! bench` sends: the same world, seed and mix size), per event, after the world's guilds
//! were created with their members; and per kind of event the cache reads.
//!
//! ```text
//! cargo bench -p switchyard-cache --bench apply
//! ```

use std::hint::black_box;

use criterion::{Criterion, criterion_group};
use serde_json::{Value, json};
use switchyard_cache::{CacheConfig, ShardCache};
use switchyard_sim::{Prerendered, World, WorldConfig, build_mix};

/// As `switchyard bench`'s load runs: 16 shards, 64 guilds, 1,024 payloads.
fn world() -> (World, Vec<Prerendered>) {
    let config = WorldConfig {
        guilds: 64,
        ..WorldConfig::default()
    };
    let world = World::generate(&config);
    let mix = build_mix(&world, config.seed, 1024);
    (world, mix)
}

/// A cache that has seen every guild's GUILD_CREATE, with its members.
fn filled(world: &World) -> ShardCache {
    let mut cache = ShardCache::new(CacheConfig::all());
    for g in &world.guilds {
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                json!({
                    "user": {"id": m.user.id.to_string(), "username": m.user.username,
                        "global_name": m.user.global_name, "discriminator": "0",
                        "avatar": m.user.avatar, "public_flags": 0},
                    "roles": m.roles.iter().map(u64::to_string).collect::<Vec<_>>(),
                    "nick": m.nick, "avatar": null, "joined_at": "2024-01-01T00:00:00.000000+00:00",
                    "premium_since": null, "deaf": false, "mute": false, "flags": 0,
                    "pending": false, "communication_disabled_until": null,
                })
            })
            .collect();
        let channels: Vec<Value> = g
            .channels
            .iter()
            .map(|c| json!({"id": c.id.to_string(), "type": c.kind, "name": c.name}))
            .collect();
        let d = json!({
            "id": g.id.to_string(), "name": g.name, "owner_id": g.owner_id.to_string(),
            "members": members, "channels": channels, "roles": [], "presences": [],
            "voice_states": [], "emojis": [], "stickers": [],
        });
        if let Err(e) = cache.apply("GUILD_CREATE", &d.to_string()) {
            panic!("GUILD_CREATE: {e}");
        }
    }
    cache
}

fn bench(c: &mut Criterion) {
    let (world, mix) = world();
    let mut cache = filled(&world);
    let mut group = c.benchmark_group("apply");
    let mut i = 0;
    group.bench_function("mix, per event", |b| {
        b.iter(|| {
            let p = &mix[i % mix.len()];
            i += 1;
            if cache.wants(&p.name) {
                black_box(cache.apply(&p.name, &p.d).ok());
            }
        });
    });
    let kinds: Vec<&str> = switchyard_sim::MIX_WEIGHTS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    for kind in kinds {
        let events: Vec<&Prerendered> = mix.iter().filter(|p| &*p.name == kind).collect();
        if events.is_empty() || !cache.wants(kind) {
            continue;
        }
        let mut i = 0;
        group.bench_function(kind, |b| {
            b.iter(|| {
                let p = events[i % events.len()];
                i += 1;
                black_box(cache.apply(&p.name, &p.d).ok());
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

/// With `APPLY_EVENTS=N` (and a `KIND` filter, optionally), applies N events of the mix and
/// exits: for instruction counts under `valgrind --tool=callgrind`, which do not depend on
/// the machine's load (per event: the difference of two runs over the difference of N).
fn main() {
    if let Some(n) = std::env::var("APPLY_EVENTS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        let (world, mix) = world();
        let kind = std::env::var("KIND").ok();
        let events: Vec<&Prerendered> = mix
            .iter()
            .filter(|p| {
                kind.as_deref()
                    .is_none_or(|k| k.is_empty() || *p.name == *k)
            })
            .collect();
        let mut cache = filled(&world);
        for i in 0..n {
            let p = events[i % events.len()];
            if cache.wants(&p.name) {
                black_box(cache.apply(&p.name, &p.d).ok());
            }
        }
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
