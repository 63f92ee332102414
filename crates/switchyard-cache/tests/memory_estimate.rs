//! The cache's own memory estimate (`counts().memory_bytes`, what the cache API reports)
//! against the allocator's count of the same cache: within a factor the operator can trust.

use std::alloc::System;

use serde_json::json;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchyard_cache::{CacheConfig, ShardCache};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn member(i: u64) -> serde_json::Value {
    json!({
        "user": {"id": (1_000_000 + i).to_string(), "username": format!("user_{i}"),
                 "global_name": format!("User {i}"), "discriminator": "0",
                 "avatar": "8342729096ea3675442027381ff50dfe", "public_flags": 0},
        "nick": if i.is_multiple_of(3) { json!(format!("nick {i}")) } else { json!(null) },
        "roles": [(10 + i % 5).to_string()], "joined_at": "2021-01-01T00:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false,
    })
}

#[test]
fn the_memory_estimate_is_close_to_what_the_allocator_counts() {
    let guilds: Vec<String> = (0..20u64)
        .map(|g| {
            let members: Vec<_> = (0..1_000).map(|i| member(g * 1_000 + i)).collect();
            let presences: Vec<_> = (0..200)
                .map(|i| json!({"user": {"id": (1_000_000 + g * 1_000 + i).to_string()}, "status": "online",
                    "client_status": {"desktop": "online"}, "activities": [{"name": "a game", "type": 0}]}))
                .collect();
            json!({"id": (g + 1).to_string(), "name": format!("guild {g}"), "owner_id": "1000000",
                "member_count": 1_000,
                "roles": [{"id": (g + 1).to_string(), "name": "@everyone", "permissions": "1024"}],
                "channels": [{"id": (5_000 + g).to_string(), "type": 0, "name": "general"}],
                "members": members, "presences": presences})
            .to_string()
        })
        .collect();
    let region = Region::new(GLOBAL);
    let mut cache = ShardCache::new(CacheConfig::all());
    for g in &guilds {
        cache.apply("GUILD_CREATE", g).expect("guild");
    }
    let stats = region.change();
    let measured = stats.bytes_allocated as f64 - stats.bytes_deallocated as f64;
    let estimated = cache.counts().memory_bytes as f64;
    let ratio = estimated / measured;
    assert!(
        (0.6..=1.4).contains(&ratio),
        "estimated {estimated} B, allocator {measured} B (ratio {ratio:.2})"
    );
    drop(cache);
}
