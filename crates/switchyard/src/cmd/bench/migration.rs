//! `switchyard bench --migration`: live migration under load. Two `switchyard run` nodes of
//! one bot (this executable, as children) share `--shards` shards on a private Redis
//! (Streams) and then a private NATS (JetStream; `--only redis` or `--only nats` for one);
//! the fake Discord sends `--rate` events/s across them, and a durable group records every
//! event with its epoch and `received_ms`.
//!
//! Measured per backend: `--moves` consecutive moves of healthy shards (each waited for),
//! a drain of one node, a rolling upgrade of three nodes (a third joins; each is drained,
//! stopped and replaced by a new process in turn), then a `kill -9` of one node (its shards
//! without an owner until the others resume them). The *handover gap* of a move is the time between the
//! last event the old node received (just before publishing it) and the first the new node
//! received (`received_ms` of the last event under the old epoch and of the first under the
//! new one). Lost events (a sequence of the fake's sessions the group never got) and
//! duplicates (one it got twice) are counted; after the graceful moves both must be 0.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{LoadSpec, Sim, SimHandle};

use super::handover::{
    Record, gaps_of, handover_gaps, last_handover, note, settle, tally, unix_ms,
};
use super::measure::quantile;
use super::nodes::{
    NodeProc, ask, name_nodes, ready, running, start_node, status, terminate, wait_for,
};
use super::servers;
use crate::cli::{BenchArgs, BenchBackend};

/// The nodes' pool lease.
const LEASE_MS: u64 = 3000;

pub async fn run(args: &BenchArgs, dir: &Path) -> anyhow::Result<bool> {
    println!(
        "switchyard bench --migration: {} shards on two nodes, {} events/s, {} moves, a drain, a rolling upgrade of three nodes and a kill -9",
        args.shards, args.rate, args.moves
    );
    let mut clean = true;
    for (kind, backend) in [("redis", BenchBackend::Redis), ("nats", BenchBackend::Nats)] {
        if !args.only.is_empty() && !args.only.contains(&backend) {
            continue;
        }
        let Some(server) = servers::start_private(kind, dir)? else {
            continue;
        };
        let url = match kind {
            "redis" => format!("{}?durable=streams", server.url),
            _ => format!("{}?durable=jetstream", server.url),
        };
        match one_backend(args, kind, &url, dir).await {
            Ok(ok) => clean &= ok,
            Err(e) => {
                println!("{kind:<6} failed: {e:#}");
                clean = false;
            }
        }
        drop(server);
    }
    Ok(clean)
}

async fn one_backend(args: &BenchArgs, kind: &str, url: &str, dir: &Path) -> anyhow::Result<bool> {
    // the replay buffer holds what comes while a shard moves, at any rate measured
    let config = super::fake::sim_config(args.shards, 65_536);
    let sim = Sim::start(config)
        .await
        .context("cannot start the fake Discord")?;
    // the recording group may fall behind at a high rate: a long ack wait keeps the broker
    // from redelivering what it has not acknowledged yet, which would count as "twice"
    // without any fault of the nodes
    let recording = format!("{url}&ack_wait_ms=600000");
    let broker = switchyard_broker::connect(&recording, &BrokerOptions::default())
        .await
        .with_context(|| format!("cannot connect to {kind}"))?;
    let pattern = Pattern::new("inbound.discord.>").context("pattern")?;
    let mut group = broker
        .subscribe_durable(&pattern, "bench-migration")
        .await
        .context("the recording group")?;
    let record = Record::default();
    let recorder = {
        let record = record.clone();
        // acks in flight at once, each holding its event: bounded, so that a broker slower
        // to acknowledge than to deliver slows the recorder instead of filling memory
        let in_flight = Arc::new(tokio::sync::Semaphore::new(4096));
        tokio::spawn(async move {
            while let Some(delivery) = group.recv().await {
                note(&record, &delivery.message.payload);
                // acknowledged beside, so that a round trip per event does not hold the
                // recorder back
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                tokio::spawn(async move {
                    let _ = delivery.ack().await;
                    drop(permit);
                });
            }
        })
    };
    let mut nodes = vec![
        node(&sim, url, dir, &format!("{kind}-a"))?,
        node(&sim, url, dir, &format!("{kind}-b"))?,
    ];
    name_nodes(&mut nodes).await?;
    let total = args.shards as usize;
    wait_for(Duration::from_secs(120), "every shard ready", async || {
        let mut all = BTreeSet::new();
        for n in &nodes {
            all.extend(ready(&n.admin).await?);
        }
        (all.len() == total).then_some(())
    })
    .await?;
    let load = sim.start_load(LoadSpec {
        rate: args.rate,
        ..LoadSpec::default()
    });
    tokio::time::sleep(Duration::from_secs(2)).await;

    let http = reqwest::Client::new();
    let mut moved = Vec::new();
    let started = Instant::now();
    let moves_from = unix_ms();
    for i in 0..args.moves {
        let (from, to) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
        let held = ready(&nodes[from].admin).await.unwrap_or_default();
        let Some(&shard) = held.iter().nth(i as usize % held.len().max(1)) else {
            bail!("node {} holds no shard to move", nodes[from].id);
        };
        ask(
            &http,
            &nodes[from].admin,
            &format!("shards/{shard}/move"),
            &nodes[to].id,
        )
        .await?;
        wait_for(Duration::from_secs(30), "a move to finish", async || {
            let there = ready(&nodes[to].admin).await?;
            let here = ready(&nodes[from].admin).await?;
            (there.contains(&shard) && !here.contains(&shard)).then_some(())
        })
        .await?;
        moved.push(shard);
    }
    let moves_took = started.elapsed();
    settle(&sim, &record).await;
    let (lost, twice) = tally(&sim, &record);
    // the moves' handovers only, not the first balancing's (before the load ran)
    let gaps = gaps_of(&record, &moved.iter().copied().collect(), moves_from);
    println!(
        "{kind:<6} {} moves in {:.1} s: lost {lost}, delivered twice {twice}; handover gap p50 {} ms, p99 {} ms, max {} ms ({} handovers)",
        args.moves,
        moves_took.as_secs_f64(),
        fmt(quantile(&gaps, 0.5)),
        fmt(quantile(&gaps, 0.99)),
        fmt(gaps.last().copied()),
        gaps.len()
    );
    let mut clean = lost == 0 && twice == 0;

    // A drain of node a.
    let drained = ready(&nodes[0].admin).await.unwrap_or_default();
    let draining = drained.len();
    let drain_at = unix_ms();
    let drain_started = Instant::now();
    ask(
        &http,
        &nodes[1].admin,
        &format!("nodes/{}/drain", nodes[0].id),
        "",
    )
    .await?;
    wait_for(Duration::from_secs(60), "the drain", async || {
        let empty = ready(&nodes[0].admin).await?.is_empty();
        (empty && ready(&nodes[1].admin).await?.len() == total).then_some(())
    })
    .await?;
    let drain_took = drain_started.elapsed();
    settle(&sim, &record).await;
    let (lost, twice) = tally(&sim, &record);
    let all_gaps = handover_gaps(&record);
    let drain_gaps = gaps_of(&record, &drained, drain_at);
    println!(
        "{kind:<6} drain of a node holding {draining} shards: {:.2} s; lost {lost}, delivered twice {twice}; its handover gaps p50 {} ms, p99 {} ms ({} handovers in all)",
        drain_took.as_secs_f64(),
        fmt(quantile(&drain_gaps, 0.5)),
        fmt(quantile(&drain_gaps, 0.99)),
        all_gaps.len()
    );
    clean &= lost == 0 && twice == 0;

    // Undrain a, let the pool even out, add a third node.
    ask(
        &http,
        &nodes[1].admin,
        &format!("nodes/{}/undrain", nodes[0].id),
        "",
    )
    .await?;
    nodes.push(node(&sim, url, dir, &format!("{kind}-c"))?);
    name_nodes(&mut nodes).await?;
    quiet(&nodes, &record, total).await?;

    // A rolling upgrade: each node drained, stopped, and replaced by a new one.
    let upgrade_at = unix_ms();
    let upgrade_started = Instant::now();
    for i in 0..3 {
        let asked = nodes.last().map(|n| n.admin.clone()).unwrap_or_default();
        ask(&http, &asked, &format!("nodes/{}/drain", nodes[i].id), "").await?;
        wait_for(Duration::from_secs(60), "a drain", async || {
            let empty = ready(&nodes[i].admin).await?.is_empty();
            (empty && running(&nodes).await?.len() == total).then_some(())
        })
        .await?;
        terminate(&mut nodes[i].child).await?;
        nodes[i].stopped = true;
        nodes.push(node(&sim, url, dir, &format!("{kind}-new{i}"))?);
        name_nodes(&mut nodes).await?;
        quiet(&nodes, &record, total).await?;
    }
    let upgrade_took = upgrade_started.elapsed();
    settle(&sim, &record).await;
    let (lost, twice) = tally(&sim, &record);
    let all: BTreeSet<u32> = (0..args.shards).collect();
    let upgrade_gaps = gaps_of(&record, &all, upgrade_at);
    println!(
        "{kind:<6} rolling upgrade of 3 nodes (drain, stop, start each): {:.1} s; lost {lost}, delivered twice {twice}; its {} handover gaps p50 {} ms, p99 {} ms",
        upgrade_took.as_secs_f64(),
        upgrade_gaps.len(),
        fmt(quantile(&upgrade_gaps, 0.5)),
        fmt(quantile(&upgrade_gaps, 0.99)),
    );
    clean &= lost == 0 && twice == 0;

    // kill -9 of one of the new nodes.
    let victim = nodes.len() - 1;
    let orphans = ready(&nodes[victim].admin).await.unwrap_or_default();
    let orphaned = orphans.len();
    let kill_at = unix_ms();
    let killed = Instant::now();
    let _ = nodes[victim].child.kill();
    let _ = nodes[victim].child.wait();
    nodes[victim].stopped = true;
    wait_for(
        Duration::from_secs(60),
        "the survivors holding every shard",
        async || (running(&nodes).await?.len() == total).then_some(()),
    )
    .await?;
    let recovered = killed.elapsed();
    load.stop().await;
    settle(&sim, &record).await;
    let (lost, twice) = tally(&sim, &record);
    let kill_gaps = gaps_of(&record, &orphans, kill_at);
    let after_lease: Vec<u64> = kill_gaps
        .iter()
        .map(|g| g.saturating_sub(LEASE_MS))
        .collect();
    println!(
        "{kind:<6} kill -9 of a node holding {orphaned} shards: all resumed on the others after {:.2} s; no owner p50 {} ms, p99 {} ms, of which after the {LEASE_MS} ms lease expired p50 {} ms, p99 {} ms; lost {lost}, delivered again {twice} (at least once after a kill)",
        recovered.as_secs_f64(),
        fmt(quantile(&kill_gaps, 0.5)),
        fmt(quantile(&kill_gaps, 0.99)),
        fmt(quantile(&after_lease, 0.5)),
        fmt(quantile(&after_lease, 0.99)),
    );
    clean &= lost == 0;
    let identifies = sim.counters().identifies;
    println!(
        "{kind:<6} IDENTIFYs: {identifies} for {total} shards (every move and the kill RESUMEd)"
    );
    clean &= identifies == u64::from(args.shards);
    recorder.abort();
    Ok(clean)
}

/// Waits until every shard runs, no move is in flight, and none ended for two leases
/// (balancing waits a lease after each change).
async fn quiet(nodes: &[NodeProc], record: &Record, total: usize) -> anyhow::Result<()> {
    wait_for(Duration::from_secs(180), "the pool to settle", async || {
        for n in nodes.iter().filter(|n| !n.stopped) {
            let doc = status(&n.admin).await?;
            if !doc["pool"]["moves"].as_array().is_some_and(Vec::is_empty) {
                return None;
            }
        }
        let all = running(nodes).await?;
        let last = last_handover(record);
        (all.len() == total && unix_ms().saturating_sub(last) > 2 * LEASE_MS).then_some(())
    })
    .await
}

/// A node of the bench's pool.
fn node(sim: &SimHandle, url: &str, dir: &Path, name: &str) -> anyhow::Result<NodeProc> {
    start_node(sim.http_url(), url, dir, name, LEASE_MS)
}

fn fmt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}
