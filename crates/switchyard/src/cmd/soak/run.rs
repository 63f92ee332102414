//! One soak on one broker: everything started, faults until the time is up, then the pool
//! and the group left to settle, and the judgement printed.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchyard_broker::BrokerOptions;
use switchyard_broker::dead_letters::DeadLetterFilter;
use switchyard_core::Envelope;
use switchyard_sim::{Fault as SimFault, LoadSpec, Sim, SimHandle};

use super::chaos::{Fault, Rng};
use super::ledger::{Ledger, Verdict, judge};
use super::procs::{BrokerProc, Consumer};
use crate::cli::SoakArgs;
use crate::cmd::bench::fake::sim_config;
use crate::cmd::bench::nodes::{NodeProc, running, shard_states, start_node, status, wait_for};

/// The nodes' pool lease.
const LEASE_MS: u64 = 3000;
const NODES: usize = 3;
const CONSUMERS: usize = 3;
/// The durable group under test, and the one reading the gateway's gap reports.
const GROUP: &str = "soak";
const GAP_GROUP: &str = "soak-gaps";
/// How long the group may go without catching up on anything before the soak stops waiting.
const SETTLE_STALL: Duration = Duration::from_secs(60);

/// Everything one soak runs, and what it has done so far.
struct Soak<'a> {
    kind: &'static str,
    dir: &'a Path,
    url: String,
    sim: SimHandle,
    broker: BrokerProc,
    nodes: Vec<NodeProc>,
    node_starts: Vec<u32>,
    consumers: Vec<Consumer>,
    ledger: Ledger,
    injected: BTreeMap<Fault, u64>,
    /// Session faults with no connected session to take them.
    skipped: u64,
    /// Sessions an injected fault ended.
    ended_by_fault: HashSet<String>,
    /// Nodes and consumers that exited without being killed (started again).
    exited: u64,
    /// Nodes restarted because a fatal close stopped one of their shards.
    restarted_after_fatal: u64,
}

pub(super) async fn one_backend(
    args: &SoakArgs,
    kind: &'static str,
    seed: u64,
    dir: &Path,
) -> anyhow::Result<bool> {
    let Some(broker) = BrokerProc::start(kind, dir)? else {
        return Ok(false);
    };
    let durable = if kind == "redis" {
        "streams"
    } else {
        "jetstream"
    };
    // a killed consumer's messages come again after 5 s rather than the default 30
    let url = format!("{}?durable={durable}&ack_wait_ms=5000", broker.url());
    let mut config = sim_config(args.shards, 65_536);
    // lost ACKs are noticed within a few seconds
    config.timings.heartbeat_interval_ms = 2_000;
    config.timings.heartbeat_timeout_ms = 8_000;
    let sim = Sim::start(config)
        .await
        .context("cannot start the fake Discord")?;
    let mut soak = Soak {
        kind,
        dir,
        url,
        sim,
        broker,
        nodes: Vec::new(),
        node_starts: vec![1; NODES],
        consumers: Vec::new(),
        ledger: Ledger::default(),
        injected: BTreeMap::new(),
        skipped: 0,
        ended_by_fault: HashSet::new(),
        exited: 0,
        restarted_after_fatal: 0,
    };
    soak.start().await?;
    let load = soak.sim.start_load(LoadSpec {
        rate: args.rate,
        ..LoadSpec::default()
    });
    // the schedule (waits and kinds) and the targets apart, so that a seed gives the same
    // kinds in the same order however the targets come out
    let (mut schedule, mut targets) = (Rng::new(seed), Rng::new(!seed));
    let started = Instant::now();
    let end = started + Duration::from_secs(args.seconds);
    let mut report_at = started + Duration::from_secs(60);
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(schedule.wait_ms(args.fault_every_ms))).await;
        soak.supervise().await?;
        let fault = schedule.fault();
        soak.inject(fault, &mut targets).await?;
        soak.ledger
            .read_new()
            .context("reading the consumers' records")?;
        if Instant::now() > report_at {
            report_at += Duration::from_secs(60);
            let (distinct, _) = soak.ledger.totals();
            println!(
                "{kind:<6} after {:.0} s: {} faults injected, {distinct} events received",
                started.elapsed().as_secs_f64(),
                soak.injected.values().sum::<u64>()
            );
        }
    }
    soak.supervise().await?;
    let shards = args.shards as usize;
    let ready = wait_for(
        Duration::from_secs(180),
        "every shard ready again",
        async || (running(&soak.nodes).await?.len() == shards).then_some(()),
    );
    if let Err(e) = ready.await {
        anyhow::bail!(
            "{e}; the nodes' shards: {}",
            shard_states(&soak.nodes).await
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    load.stop().await;
    let verdict = soak.settle().await?;
    soak.print(&verdict, args.shards);
    Ok(verdict.clean())
}

impl Soak<'_> {
    /// The consumers first (so that the group exists before the first event), then the
    /// nodes, until they hold every shard.
    async fn start(&mut self) -> anyhow::Result<()> {
        for i in 0..CONSUMERS {
            let c = Consumer::start(
                &format!("consumer{i}"),
                &self.url,
                GROUP,
                "inbound.discord.>",
                self.dir,
            )
            .await?;
            self.ledger.watch(c.record(1));
            self.consumers.push(c);
        }
        let gaps = Consumer::start(
            "gaps",
            &self.url,
            GAP_GROUP,
            "control.gateway.gap",
            self.dir,
        )
        .await?;
        self.ledger.watch(gaps.record(1));
        self.consumers.push(gaps);
        for i in 0..NODES {
            let node = self.node(i)?;
            self.nodes.push(node);
        }
        let total = self.sim.config().shards as usize;
        wait_for(Duration::from_secs(120), "every shard ready", async || {
            (running(&self.nodes).await?.len() == total).then_some(())
        })
        .await
    }

    /// Node `i`, a new process.
    fn node(&self, i: usize) -> anyhow::Result<NodeProc> {
        let name = format!("node{i}-{}", self.node_starts[i]);
        start_node(self.sim.http_url(), &self.url, self.dir, &name, LEASE_MS)
    }

    /// Starts again whatever exited by itself.
    async fn supervise(&mut self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            if matches!(self.nodes[i].child.try_wait(), Ok(Some(_))) {
                tracing::warn!(
                    kind = self.kind,
                    "node {i} exited by itself; starting it again"
                );
                self.exited += 1;
                self.node_starts[i] += 1;
                self.nodes[i] = self.node(i)?;
            }
        }
        for c in &mut self.consumers {
            if c.exited() {
                tracing::warn!(
                    kind = self.kind,
                    "a consumer exited by itself; starting it again"
                );
                self.exited += 1;
                c.restart().await?;
                self.ledger.watch(c.record(c.starts));
            }
        }
        Ok(())
    }

    async fn inject(&mut self, fault: Fault, rng: &mut Rng) -> anyhow::Result<()> {
        match fault {
            Fault::KillNode => {
                let i = rng.below(NODES as u64) as usize;
                let _ = self.nodes[i].child.kill();
                let _ = self.nodes[i].child.wait();
                self.node_starts[i] += 1;
                self.nodes[i] = self.node(i)?;
            }
            Fault::KillConsumer => {
                let c = &mut self.consumers[rng.below(CONSUMERS as u64) as usize];
                c.kill_and_restart().await?;
                self.ledger.watch(c.record(c.starts));
            }
            Fault::RestartBroker => self.broker.restart()?,
            session_fault => {
                let live: Vec<(String, u32)> = self
                    .sim
                    .counters_summary()
                    .sessions
                    .into_iter()
                    .filter(|s| s.connected && !s.ended)
                    .map(|s| (s.session_id, s.shard[0]))
                    .collect();
                if live.is_empty() {
                    self.skipped += 1;
                    return Ok(());
                }
                let (id, shard) = live[rng.below(live.len() as u64) as usize].clone();
                let Some(asked) = sim_fault(session_fault, id.clone()) else {
                    return Ok(());
                };
                let taken = self
                    .sim
                    .fault(&asked)
                    .with_context(|| format!("the fake refused {session_fault}"))?;
                if taken == 0 {
                    // the session lost its connection in the meantime
                    self.skipped += 1;
                    return Ok(());
                }
                if session_fault.ends_session() {
                    self.ended_by_fault.insert(id);
                }
                if session_fault.fatal() {
                    *self.injected.entry(fault).or_default() += 1;
                    return self.restart_stopped(Some(shard)).await;
                }
            }
        }
        *self.injected.entry(fault).or_default() += 1;
        Ok(())
    }

    /// Restarts (`kill -9`, then a new process) the nodes on which a shard stopped after a
    /// fatal close, as an operator would once its cause is fixed; with `shard`, waits (up to
    /// 30 s) for that shard to stop first.
    async fn restart_stopped(&mut self, shard: Option<u32>) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut stopped = Vec::new();
            for (i, node) in self.nodes.iter().enumerate() {
                let fatal = fatal_shards(&node.admin).await;
                if !fatal.is_empty() && shard.is_none_or(|s| fatal.contains(&s)) {
                    stopped.push(i);
                }
            }
            for &i in &stopped {
                let _ = self.nodes[i].child.kill();
                let _ = self.nodes[i].child.wait();
                self.node_starts[i] += 1;
                self.nodes[i] = self.node(i)?;
                self.restarted_after_fatal += 1;
            }
            if !stopped.is_empty() || shard.is_none() || Instant::now() > deadline {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the group has every event it should, or has caught up on nothing for
    /// [`SETTLE_STALL`]; then judges, with the dead letters of the group.
    async fn settle(&mut self) -> anyhow::Result<Verdict> {
        let mut best = u64::MAX;
        let mut progress = Instant::now();
        loop {
            self.supervise().await?;
            self.ledger
                .read_new()
                .context("reading the consumers' records")?;
            let sessions = self.sim.counters_summary().sessions;
            let v = judge(
                &self.ledger,
                &sessions,
                &self.ended_by_fault,
                &HashSet::new(),
            );
            if v.lost == 0 {
                break;
            }
            if v.lost < best {
                best = v.lost;
                progress = Instant::now();
            } else if progress.elapsed() > SETTLE_STALL {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let dead = self.dead_letters().await?;
        let sessions = self.sim.counters_summary().sessions;
        Ok(judge(&self.ledger, &sessions, &self.ended_by_fault, &dead))
    }

    /// The ids of the events the group dead-lettered.
    async fn dead_letters(&self) -> anyhow::Result<HashSet<u128>> {
        let broker = switchyard_broker::connect(&self.url, &BrokerOptions::default())
            .await
            .context("cannot connect to read the dead letters")?;
        let filter = DeadLetterFilter {
            group: Some(GROUP.to_owned()),
            ..DeadLetterFilter::default()
        };
        let letters = broker.dead_letters()?.read(&filter).await?;
        Ok(letters
            .iter()
            .filter_map(|l| Envelope::decode(&l.payload).ok())
            .filter_map(|e| u128::from_str_radix(&e.id, 16).ok())
            .collect())
    }

    fn print(&self, v: &Verdict, shards: u32) {
        let kind = self.kind;
        let faults: Vec<String> = self
            .injected
            .iter()
            .map(|(f, n)| format!("{f} {n}"))
            .collect();
        let (distinct, deliveries) = self.ledger.totals();
        let counters = self.sim.counters_summary();
        println!(
            "{kind:<6} {} faults: {}; {} session faults skipped (no connected session)",
            self.injected.values().sum::<u64>(),
            faults.join(", "),
            self.skipped
        );
        println!(
            "{kind:<6} {} events in {} sessions: {} reached the group ({distinct} distinct, {deliveries} deliveries, {} redelivered), {} dead-lettered, {} in reported gaps ({} of them in sessions never saved), {} also sent to a newer session of their shard, lost {}",
            v.events,
            v.sessions,
            v.delivered,
            deliveries.saturating_sub(distinct),
            v.dead_lettered,
            v.in_gaps,
            v.unsaved,
            v.superseded,
            v.lost
        );
        println!(
            "{kind:<6} gaps reported {} for {} sessions ended by faults, unexplained {}; IDENTIFYs {} for {shards} shards; nodes restarted after a fatal close {}; nodes and consumers that exited by themselves {} (a node exits when every shard it holds closed fatally)",
            v.gaps,
            self.ended_by_fault.len(),
            v.unexplained_gaps.len(),
            counters.identifies,
            self.restarted_after_fatal,
            self.exited
        );
        if self.ledger.unreadable > 0 {
            println!(
                "{kind:<6} unreadable record lines: {}",
                self.ledger.unreadable
            );
        }
        for lost in &v.lost_sample {
            println!("{kind:<6} lost: {lost}");
        }
        for gap in &v.unexplained_gaps {
            println!("{kind:<6} unexplained gap: {gap}");
        }
        println!("{kind:<6} {}", if v.clean() { "PASS" } else { "FAIL" });
    }
}

/// The shards of the node at `admin` that stopped after a fatal close.
async fn fatal_shards(admin: &str) -> Vec<u32> {
    let Some(doc) = status(admin).await else {
        return Vec::new();
    };
    doc["gateway"]["shards"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["state"] == "fatal")
        .filter_map(|s| s["id"].as_u64().and_then(|id| u32::try_from(id).ok()))
        .collect()
}

/// The fake's form of a session fault (`None` for the others).
fn sim_fault(fault: Fault, session: String) -> Option<SimFault> {
    let session_id = Some(session);
    Some(match fault {
        Fault::Reconnect => SimFault::Reconnect { session_id },
        Fault::InvalidSession { resumable } => SimFault::InvalidSession {
            resumable,
            session_id,
        },
        Fault::Close(code) => SimFault::Close { code, session_id },
        Fault::Drop => SimFault::Drop { session_id },
        Fault::LostAcks => SimFault::StopAck {
            stop: true,
            session_id,
        },
        Fault::KillNode | Fault::KillConsumer | Fault::RestartBroker => return None,
    })
}
