//! Memory of Switchyard's cache against twilight-cache-inmemory, side by side in one run: one
//! generated corpus (`corpus.rs`), fed to each cache with the same resource types, each
//! measured by a counting global allocator (live bytes after feeding minus before; the corpus
//! is generated on the fly, so only what the cache keeps stays live).
//!
//! ```text
//! cargo bench -p switchyard-cache --bench memory [-- --members N --guilds N --seed N]
//! ```
//!
//! Four configurations: everything (the headline), the guilds' own state alone (guild fields,
//! channels, roles, emojis, stickers, voice states: per guild), members and their users alone
//! (per member), presences alone (per presence).

mod corpus;
mod objects;
mod shape;

use std::alloc::System;
use std::time::Instant;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};
use switchyard_cache::{CacheConfig, ShardCache};
use twilight_cache_inmemory::{DefaultInMemoryCache, ResourceType};
use twilight_model::gateway::event::{DispatchEventWithTypeDeserializer, Event};

use corpus::Corpus;
use serde::de::DeserializeSeed;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Live heap: bytes and allocations (stats_alloc counts a reallocation's growth in
/// `bytes_allocated` and its shrinking in `bytes_deallocated`).
fn live() -> (i64, i64) {
    let s = GLOBAL.stats();
    (
        s.bytes_allocated as i64 - s.bytes_deallocated as i64,
        s.allocations as i64 - s.deallocations as i64,
    )
}

/// One configuration: what each cache keeps.
struct Setup {
    name: &'static str,
    ours: CacheConfig,
    theirs: ResourceType,
}

fn setups() -> Vec<Setup> {
    let none = CacheConfig {
        enabled: true,
        guilds: false,
        channels: false,
        roles: false,
        members: false,
        emojis: false,
        stickers: false,
        presences: false,
        voice_states: false,
        stage_instances: false,
        scheduled_events: false,
        messages: 0,
        ..CacheConfig::default()
    };
    vec![
        Setup {
            name: "everything",
            ours: CacheConfig::all(),
            theirs: ResourceType::GUILD
                | ResourceType::CHANNEL
                | ResourceType::ROLE
                | ResourceType::EMOJI
                | ResourceType::STICKER
                | ResourceType::VOICE_STATE
                | ResourceType::MEMBER
                | ResourceType::USER
                | ResourceType::USER_CURRENT
                | ResourceType::PRESENCE
                | ResourceType::MESSAGE,
        },
        Setup {
            name: "guild state",
            ours: CacheConfig {
                guilds: true,
                channels: true,
                roles: true,
                emojis: true,
                stickers: true,
                voice_states: true,
                ..none.clone()
            },
            theirs: ResourceType::GUILD
                | ResourceType::CHANNEL
                | ResourceType::ROLE
                | ResourceType::EMOJI
                | ResourceType::STICKER
                | ResourceType::VOICE_STATE,
        },
        Setup {
            name: "members+users",
            ours: CacheConfig {
                members: true,
                ..none.clone()
            },
            theirs: ResourceType::MEMBER | ResourceType::USER,
        },
        Setup {
            name: "presences",
            ours: CacheConfig {
                presences: true,
                ..none
            },
            theirs: ResourceType::PRESENCE,
        },
    ]
}

struct Measured {
    bytes: i64,
    allocs: i64,
    secs: f64,
}

fn ours(corpus: &Corpus, config: &CacheConfig) -> (Measured, switchyard_cache::CacheCounts) {
    let before = live();
    let start = Instant::now();
    let mut cache = ShardCache::new(config.clone());
    let mut errors = 0;
    let trace = std::env::var_os("MEMORY_BY_EVENT").is_some();
    let mut by_event: std::collections::BTreeMap<String, (i64, u64)> = Default::default();
    corpus.feed(&mut |event, d| {
        let at = if trace { live().0 } else { 0 };
        if cache.apply(event, d).is_err() {
            errors += 1;
        }
        if trace {
            let e = by_event.entry(event.to_owned()).or_default();
            e.0 += live().0 - at;
            e.1 += 1;
        }
    });
    for (event, (bytes, n)) in &by_event {
        eprintln!("  {event}: {n} events, {bytes} bytes kept");
    }
    let secs = start.elapsed().as_secs_f64();
    let after = live();
    assert_eq!(errors, 0, "Switchyard's cache refused events");
    let counts = cache.counts();
    let m = Measured {
        bytes: after.0 - before.0,
        allocs: after.1 - before.1,
        secs,
    };
    drop(cache);
    (m, counts)
}

fn theirs(corpus: &Corpus, resources: ResourceType) -> Measured {
    let before = live();
    let start = Instant::now();
    let cache = DefaultInMemoryCache::builder()
        .resource_types(resources)
        .message_cache_size(50)
        .build();
    let mut errors = 0;
    corpus.feed(&mut |event, d| {
        let mut de = serde_json::Deserializer::from_str(d);
        match DispatchEventWithTypeDeserializer::new(event).deserialize(&mut de) {
            Ok(dispatch) => cache.update(&Event::from(dispatch)),
            Err(e) => {
                if errors == 0 {
                    eprintln!("twilight-model refused {event}: {e}");
                    if event == "GUILD_CREATE" {
                        let e = serde_json::from_str::<twilight_model::guild::Guild>(d).err();
                        eprintln!("as a guild: {e:?}");
                    }
                }
                errors += 1;
            }
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let after = live();
    assert_eq!(errors, 0, "twilight-model refused events");
    let m = Measured {
        bytes: after.0 - before.0,
        allocs: after.1 - before.1,
        secs,
    };
    drop(cache);
    m
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let members = arg("--members", 1_000_000);
    let guilds = arg("--guilds", 3_000) as usize;
    let seed = arg("--seed", 17);
    let corpus = Corpus::new(seed, guilds, members, members * 7 / 10);
    let mut events = 0u64;
    let mut bytes = 0u64;
    corpus.feed(&mut |_, d| {
        events += 1;
        bytes += d.len() as u64;
    });
    println!(
        "corpus: seed {seed}, {guilds} guilds ({} to {} members), {} members, {events} events, {:.0} MB of JSON",
        corpus.sizes.last().copied().unwrap_or(0),
        corpus.sizes[0],
        corpus.members(),
        bytes as f64 / 1e6
    );
    println!();
    println!(
        "| kept | per | Switchyard | twilight-cache-inmemory | ratio | allocations (S / t) | feed time (S / t) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    for setup in setups() {
        let (s, counts) = ours(&corpus, &setup.ours);
        let t = theirs(&corpus, setup.theirs);
        let (per, n) = match setup.name {
            "guild state" => ("guild", counts.guilds),
            "presences" => ("presence", counts.presences),
            _ => ("member", counts.members),
        };
        let n = n.max(1) as f64;
        println!(
            "| {} | {per} ({n}) | {:.0} B | {:.0} B | **{:.1} %** | {:.2} / {:.2} per {per} | {:.2} s / {:.2} s |",
            setup.name,
            s.bytes as f64 / n,
            t.bytes as f64 / n,
            100.0 * s.bytes as f64 / t.bytes as f64,
            s.allocs as f64 / n,
            t.allocs as f64 / n,
            s.secs,
            t.secs
        );
        if setup.name == "everything" {
            println!(
                "| everything | guild ({}) | {:.0} B | {:.0} B | | | |",
                counts.guilds,
                s.bytes as f64 / counts.guilds.max(1) as f64,
                t.bytes as f64 / counts.guilds.max(1) as f64
            );
            eprintln!(
                "counts: {counts:?}; total {:.1} MB / {:.1} MB",
                s.bytes as f64 / 1e6,
                t.bytes as f64 / 1e6
            );
        }
    }
}
