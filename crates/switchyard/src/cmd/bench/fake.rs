//! The fake Discord the load, face and migration benches run against: the same world
//! shape for each, with every shard holding guilds.

use switchyard_sim::{SimConfig, World, WorldConfig};

/// The fake Discord of the load runs: `shards` shards identified together (one bucket each,
/// a 50 ms window), four guilds a shard (at least 64) in a world where every shard holds
/// one, and a replay buffer of that many events per session.
pub(crate) fn sim_config(shards: u32, replay_buffer: usize) -> SimConfig {
    let world = WorldConfig {
        guilds: (shards as usize * 4).max(64),
        ..WorldConfig::default()
    };
    let mut config = SimConfig {
        shards,
        max_concurrency: shards,
        replay_buffer,
        world: WorldConfig {
            seed: seed_covering(&world, shards),
            ..world
        },
        ..SimConfig::default()
    };
    config.timings.identify_window_ms = 50;
    config
}

/// The first seed from `world.seed` on whose world every shard holds a guild. Guild ids are
/// random, so some seeds leave a shard empty: it would get no events at all, and the
/// migration bench would count its silence as handover gaps.
fn seed_covering(world: &WorldConfig, shards: u32) -> u64 {
    let covers = |seed: u64| {
        let w = World::generate(&WorldConfig {
            seed,
            ..world.clone()
        });
        (0..shards).all(|s| w.shard_guilds(s, shards).next().is_some())
    };
    (world.seed..world.seed + 1_000)
        .find(|&seed| covers(seed))
        .unwrap_or(world.seed)
}
