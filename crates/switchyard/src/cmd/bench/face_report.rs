//! What `switchyard bench --face` runs in turn and prints: the memory steps, then for each
//! client count a fixed-rate phase (latency) and a full-speed phase (events/s), and the
//! targets of issue 18.

use super::face::{Bench, Phase, layout};
use super::face_memory::{self, REPLAY_CLIENTS};
use super::measure::quantile;
use super::{MB, ms, verdict};
use crate::cli::BenchArgs;

/// The latency target with the broker hop: p99 under 3 ms at the fixed rate.
const P99_TARGET_NS: u64 = 3_000_000;

fn shards_note(clients: usize, fanout: bool) -> String {
    match (clients, fanout) {
        (1, _) => "[0, 1]".to_owned(),
        (_, true) => "all on [0, 1]".to_owned(),
        (n, false) => format!("[i, {n}] for i < {n}"),
    }
}

fn lost(p: &Phase) -> String {
    match p.expected.saturating_sub(p.received) {
        0 => String::new(),
        n => format!(" ({n} deliveries MISSING)"),
    }
}

/// Runs everything on `bench`; `Ok(false)` when a target was missed or a delivery lost.
pub async fn run_all(bench: &Bench, args: &BenchArgs) -> anyhow::Result<bool> {
    println!(
        "switchyard bench --face: {} shards, {} guilds, {} events per phase, fixed rate {} events/s, the fake's mix of {} payloads; {} CPUs; the face on its own runtime (threads bench-face), the clients on one thread",
        args.shards,
        bench.guilds,
        args.events,
        args.rate,
        super::load::MIX_SIZE,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let mut ok = true;
    if args.face_idle_clients > 0 {
        let m = face_memory::measure(
            bench,
            args.face_replay,
            args.face_idle_clients as usize,
            args.rate,
        )
        .await?;
        println!(
            "memory    process after a warm-up without clients: RSS {:.1} MB",
            m.base as f64 / MB
        );
        println!(
            "memory    replay: {:.0} bytes per event kept ({} events, {REPLAY_CLIENTS} clients on [0, 1] each keeping every one)",
            m.per_event, m.events
        );
        println!(
            "memory    {} idle clients on [i, {}]: {:.1} KB per client ({} GUILD_CREATEs among them; READY and GUILD_CREATEs {:.1} KB per client, kept by its session for a RESUME; a GUILD_CREATE here weighs {:.1} KB)",
            m.idle,
            m.idle,
            m.per_client / 1024.0,
            m.guild_creates,
            m.state_per_client / 1024.0,
            m.guild_create_bytes / 1024.0
        );
    }
    let mut p99s = Vec::new();
    for &clients in &args.face_clients {
        let shards = layout(clients, args.face_fanout);
        let connected = bench.connect(&shards).await?;
        let warm = (args.events / 5).clamp(1, args.rate);
        bench.phase(&shards, warm, Some(args.rate)).await?;
        let fixed = bench.phase(&shards, args.events, Some(args.rate)).await?;
        let full = bench.phase(&shards, args.events, None).await?;
        connected.close().await;
        bench
            .wait_sessions_gone(std::time::Duration::from_secs(30))
            .await;
        let name = format!("{clients} client{}", if clients == 1 { "" } else { "s" });
        println!(
            "face      {name} ({}): fixed rate {}/s: {} events, {} of {} deliveries{}; latency p50 {}, p99 {}, max {} ({} samples); face CPU {:.2} µs/event, {:.2} µs/delivery (gateway {:.2} µs/event, clients {:.2})",
            shards_note(clients, args.face_fanout),
            args.rate,
            fixed.events,
            fixed.received,
            fixed.expected,
            lost(&fixed),
            ms(quantile(&fixed.latencies, 0.50)),
            ms(quantile(&fixed.latencies, 0.99)),
            ms(fixed.latencies.last().copied()),
            fixed.latencies.len(),
            fixed.per_event(fixed.face_ns),
            fixed.face_per_delivery(),
            fixed.per_event(fixed.gateway_ns),
            fixed.per_event(fixed.clients_ns),
        );
        println!(
            "face      {name}: full speed: {} events, {} of {} deliveries{}, {:.0} events/s ({:.0} deliveries/s); face CPU {:.2} µs/event, {:.2} µs/delivery (gateway {:.2} µs/event, clients {:.2})",
            full.events,
            full.received,
            full.expected,
            lost(&full),
            full.events_per_sec(),
            full.received as f64 / full.secs.max(1e-9),
            full.per_event(full.face_ns),
            full.face_per_delivery(),
            full.per_event(full.gateway_ns),
            full.per_event(full.clients_ns),
        );
        ok &= fixed.received >= fixed.expected && full.received >= full.expected;
        p99s.push((name, quantile(&fixed.latencies, 0.99)));
    }
    println!("targets:");
    for (name, p99) in p99s {
        let met = p99.is_some_and(|p| p < P99_TARGET_NS);
        ok &= met;
        println!(
            "  p99 < 3 ms from the fake to a face client at {} events/s, {name}: {}, {}",
            args.rate,
            ms(p99),
            verdict(met)
        );
    }
    Ok(ok)
}
