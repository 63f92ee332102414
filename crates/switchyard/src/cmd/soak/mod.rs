//! `switchyard soak`: durable delivery under chaos. For each broker (a private Redis with
//! Streams, then a private NATS with JetStream, both keeping their data on disk), a shard
//! pool of three `switchyard run` nodes and a durable group of three consumers
//! (`switchyard tail --group soak`) run while the fake Discord sends `--rate` events/s and a
//! fault comes every `--fault-every-ms` ([`chaos`]): session faults from the fake, `kill -9`
//! of nodes and consumers (started again at once), and broker restarts.
//!
//! At the end, once the pool holds every shard again and the group has caught up, every
//! sequence of every session of the fake is looked up in what the consumers recorded
//! ([`ledger`]): lost must be 0, and every gap the gateway reported must follow a fault that
//! ended a session. Redeliveries are counted, as at-least-once allows them.
//!
//! Ctrl-C or SIGTERM stops every process the soak started and keeps its logs (exit 130).

mod chaos;
mod ledger;
mod procs;
mod run;

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{BenchBackend, SoakArgs};

pub async fn run(args: SoakArgs) -> anyhow::Result<ExitCode> {
    let seed = match args.seed {
        Some(seed) => seed,
        None => {
            let mut bytes = [0u8; 8];
            getrandom::fill(&mut bytes).context("no random seed")?;
            u64::from_le_bytes(bytes)
        }
    };
    println!(
        "switchyard soak: {} s of faults every ~{} ms at {} events/s, {} shards on 3 nodes, 3 consumers; --seed {seed}",
        args.seconds, args.fault_every_ms, args.rate, args.shards
    );
    let dir = std::env::temp_dir().join(format!("switchyard-soak-{}", std::process::id()));
    let mut clean = true;
    for (kind, backend) in [("redis", BenchBackend::Redis), ("nats", BenchBackend::Nats)] {
        if !args.only.is_empty() && !args.only.contains(&backend) {
            continue;
        }
        let here = dir.join(kind);
        std::fs::create_dir_all(&here)
            .with_context(|| format!("cannot create {}", here.display()))?;
        let result = tokio::select! {
            result = run::one_backend(&args, kind, seed, &here) => result,
            () = crate::cmd::broker::shutdown_signal() => {
                // Dropping the run stops every process it started (nodes, consumers, broker).
                println!("soak: interrupted; stopped what it had started; logs and records kept in {}", dir.display());
                return Ok(ExitCode::from(130));
            }
        };
        match result {
            Ok(ok) => clean &= ok,
            Err(e) => {
                println!("{kind:<6} failed: {e:#}");
                clean = false;
            }
        }
    }
    if args.keep || !clean {
        println!("logs and records kept in {}", dir.display());
    } else if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!("cannot remove {}: {e}", dir.display());
    }
    println!("soak: {}", if clean { "PASS" } else { "FAIL" });
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
