//! Live migration with real processes: nodes of one bot's shard pool on a private Redis
//! (some cases on NATS as well: its pub/sub or JetStream, and its key-value store for the
//! pool), a fake Discord sending events all along, and a subscriber recording each (shard,
//! seq) with the epoch it came under.
//! - healthy shards moved back and forth with `switchyard shards move`: nothing lost,
//!   nothing delivered twice to a durable group, no IDENTIFY;
//! - `switchyard node drain` empties a node that stays up; `undrain` gives it shards again;
//! - a node that joins gets shards until the load is even;
//! - bad requests are refused with their reason;
//! - a node paused (SIGSTOP) past its lease, whose shards went elsewhere, publishes nothing
//!   more for them when it wakes, still connected;
//! - the target of a move, or the coordinator, killed mid-move: nothing lost;
//! - a rolling upgrade of three nodes (drain, stop, start, one after the other): no
//!   IDENTIFY, nothing lost, nothing twice;
//! - three nodes starting together against `max_concurrency` 1 identify one at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::{NatsServer, RedisServer};

mod pool_node;
use pool_node::{Node, assert_no_token, until};

const SHARDS: u32 = 4;

/// What the subscriber got: per shard, how many times each sequence, and the events that
/// came under an epoch older than one already seen for their shard.
#[derive(Default)]
struct Seen {
    count: BTreeMap<u64, BTreeMap<u64, u32>>,
    epoch: BTreeMap<u64, u64>,
    stale: Vec<(u64, u64, u64)>,
}

struct Cluster {
    sim: Arc<SimHandle>,
    url: String,
    seen: Arc<Mutex<Seen>>,
    recorder: tokio::task::JoinHandle<()>,
    traffic: Option<(Arc<AtomicBool>, tokio::task::JoinHandle<()>)>,
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
    _server: Server,
}

/// The broker and key-value store the nodes share, kept running until the cluster drops.
#[allow(dead_code)]
enum Server {
    Redis(RedisServer),
    Nats(NatsServer),
}

/// Which one, and whether a durable group (Redis Streams, JetStream) reads.
#[derive(Clone, Copy)]
enum On {
    Redis {
        durable: bool,
    },
    /// NATS core pub/sub, its key-value store for the pool.
    Nats,
    JetStream,
}

impl Cluster {
    /// A fake Discord, a private Redis (its Streams with a durable group reading when
    /// `durable`) and a recorder; no node yet.
    async fn new(durable: bool) -> Cluster {
        Cluster::on(On::Redis { durable }, SimConfig::fast()).await
    }

    /// A fake Discord as `config` says (with [`SHARDS`] shards), a private server and a
    /// recorder; no node yet.
    async fn on(on: On, mut config: SimConfig) -> Cluster {
        let (server, url, durable) = match on {
            On::Redis { durable } => {
                let redis = RedisServer::start();
                let url = if durable {
                    format!("{}?durable=streams", redis.url())
                } else {
                    redis.url()
                };
                (Server::Redis(redis), url, durable)
            }
            On::Nats => {
                let nats = NatsServer::start();
                let url = nats.url();
                (Server::Nats(nats), url, false)
            }
            On::JetStream => {
                let nats = NatsServer::start();
                let url = format!("{}?durable=jetstream", nats.url());
                (Server::Nats(nats), url, true)
            }
        };
        config.shards = SHARDS;
        config.world.guilds = 16;
        let sim = Sim::start(config).await.expect("sim");
        let broker = switchyard_broker::connect(&url, &BrokerOptions::default())
            .await
            .expect("redis");
        let pattern = Pattern::new("inbound.discord.>").expect("pattern");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = {
            let seen = seen.clone();
            if durable {
                let mut group = broker
                    .subscribe_durable(&pattern, "recorder")
                    .await
                    .expect("durable group");
                tokio::spawn(async move {
                    while let Some(delivery) = group.recv().await {
                        record(&seen, &delivery.message.payload);
                        delivery.ack().await.expect("ack");
                    }
                })
            } else {
                let mut sub = broker.subscribe(&pattern).await.expect("subscribe");
                tokio::spawn(async move {
                    while let Some(msg) = sub.recv().await {
                        record(&seen, &msg.payload);
                    }
                })
            }
        };
        Cluster {
            sim: Arc::new(sim),
            url,
            seen,
            recorder,
            traffic: None,
            nodes: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            _server: server,
        }
    }

    fn start_node(&mut self, name: &str) {
        self.start_node_with(name, &[]);
    }

    fn start_node_with(&mut self, name: &str, env: &[(&str, &str)]) {
        let node = Node::start_with(&self.sim, &self.url, self.dir.path(), name, 20, env);
        self.nodes.push(node);
    }

    fn refs(&self) -> Vec<&Node> {
        self.nodes.iter().collect()
    }

    /// Waits until the live nodes' ready shards are disjoint and cover every shard, and
    /// `check` holds for their counts.
    async fn settled(&self, what: &str, check: impl Fn(&[usize]) -> bool) {
        let nodes: Vec<&Node> = self.nodes.iter().filter(|n| n.alive()).collect();
        until(what, 60, &self.refs(), async || {
            let mut all = BTreeSet::new();
            let mut counts = Vec::new();
            for n in &nodes {
                let Some(ready) = n.ready_shards().await else {
                    return false;
                };
                counts.push(ready.len());
                for s in ready {
                    if !all.insert(s) {
                        return false;
                    }
                }
            }
            all.len() == SHARDS as usize && check(&counts)
        })
        .await;
    }

    /// Messages in random channels, 50 a second, until [`Cluster::quiet`].
    fn traffic(&mut self) {
        let channels: Vec<u64> = self
            .sim
            .world()
            .guilds
            .iter()
            .filter_map(|g| g.channels.iter().find(|c| c.kind == 0).map(|c| c.id))
            .collect();
        let (stop, sim) = (Arc::new(AtomicBool::new(false)), self.sim.clone());
        let flag = stop.clone();
        let task = tokio::spawn(async move {
            let mut n = 0usize;
            while !flag.load(Ordering::Relaxed) {
                let channel = channels[n % channels.len()];
                let _ = sim.inject(&Inject::Message {
                    channel_id: Snowflake(channel),
                    content: format!("event {n}"),
                    author_id: None,
                });
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        self.traffic = Some((stop, task));
    }

    async fn quiet(&mut self) {
        if let Some((stop, task)) = self.traffic.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = task.await;
        }
    }

    /// Waits until the subscriber has every sequence of every session of the fake, then
    /// checks that none came twice, none under a stale epoch, and no shard identified more
    /// than once.
    async fn nothing_lost_nothing_twice(&mut self) {
        self.check(false).await;
    }

    /// Like [`Cluster::nothing_lost_nothing_twice`], but allowing events twice: after a
    /// node stopped without saving (a crash, a pause), its successor RESUMEs from the last
    /// save and publishes again what came after it (at least once, on a broker without
    /// deduplication). Still none may come under a stale epoch.
    async fn nothing_lost_none_stale(&mut self) {
        self.check(true).await;
    }

    async fn check(&mut self, replays: bool) {
        self.quiet().await;
        let refs = self.refs();
        until("every event of every session", 60, &refs, async || {
            let seen = self.seen.lock().expect("lock");
            self.sim.counters().sessions.iter().all(|s| {
                let got = seen.count.get(&u64::from(s.shard[0]));
                (1..=s.last_seq).all(|n| got.is_some_and(|g| g.contains_key(&n)))
            })
        })
        .await;
        let seen = self.seen.lock().expect("lock");
        let twice: Vec<(u64, u64)> = seen
            .count
            .iter()
            .flat_map(|(shard, seqs)| {
                seqs.iter()
                    .filter(|(_, n)| **n > 1)
                    .map(|(seq, _)| (*shard, *seq))
            })
            .collect();
        if !replays {
            assert_eq!(twice, [], "(shard, seq) delivered twice");
        }
        assert_eq!(seen.stale, [], "(shard, seq, epoch) under a stale epoch");
        let sessions = self.sim.counters().sessions;
        assert_eq!(
            sessions.len(),
            SHARDS as usize,
            "no IDENTIFY after the first: {sessions:?}"
        );
        assert_no_token(&self.nodes);
    }

    /// Node `i`'s id in the pool.
    async fn node_id(&self, i: usize) -> String {
        let mut id = None;
        until("a node id", 30, &self.refs(), async || {
            id = self.nodes[i]
                .status()
                .await
                .and_then(|s| s["pool"]["node"].as_str().map(str::to_owned));
            id.is_some()
        })
        .await;
        id.expect("id")
    }

    async fn coordinator(&self) -> usize {
        let mut found = None;
        until("a coordinator", 30, &self.refs(), async || {
            for (i, n) in self.nodes.iter().enumerate() {
                if n.alive() && n.is_coordinator().await == Some(true) {
                    found = Some(i);
                    return true;
                }
            }
            false
        })
        .await;
        found.expect("coordinator")
    }
}

fn record(seen: &Mutex<Seen>, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    let (Some(shard), Some(seq)) = (v["shard"].as_u64(), v["seq"].as_u64()) else {
        return;
    };
    let mut guard = seen.lock().expect("lock");
    let seen = &mut *guard;
    *seen.count.entry(shard).or_default().entry(seq).or_default() += 1;
    if let Some(epoch) = v["epoch"].as_u64() {
        let highest = seen.epoch.entry(shard).or_default();
        if epoch < *highest {
            seen.stale.push((shard, seq, epoch));
        }
        *highest = (*highest).max(epoch);
    }
}

/// Runs `switchyard ARGS… --admin ADDR`; returns success and what it printed.
fn cli(admin: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(args)
        .args(["--admin", admin])
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .expect("switchyard runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_shards_move_back_and_forth_with_nothing_lost_or_twice() {
    moves_back_and_forth(Cluster::new(true).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_healthy_shards_move_back_and_forth_with_nothing_lost_or_twice() {
    moves_back_and_forth(Cluster::on(On::JetStream, SimConfig::fast()).await).await;
}

/// Six moves, each of a shard of one node to the other, asked of the node that does not
/// coordinate, with events flowing all along.
async fn moves_back_and_forth(mut c: Cluster) {
    c.start_node("a");
    c.start_node("b");
    c.settled("two nodes splitting the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    c.traffic();
    let ids = [c.node_id(0).await, c.node_id(1).await];
    let coordinator = c.coordinator().await;
    for round in 0..6 {
        let from = round % 2;
        let to = 1 - from;
        let Some(&shard) = c.nodes[from]
            .ready_shards()
            .await
            .and_then(|s| s.iter().next().copied())
            .as_ref()
        else {
            panic!("node {from} holds nothing")
        };
        // Ask the node that does not coordinate: it passes the request on.
        let asked = &c.nodes[1 - coordinator].admin;
        let (ok, out) = cli(
            asked,
            &["shards", "move", &shard.to_string(), "--to", &ids[to]],
        );
        assert!(ok, "move {shard} to {}: {out}", ids[to]);
        assert!(out.contains("is moving"), "{out}");
        until(
            "the shard running on its target",
            60,
            &c.refs(),
            async || {
                let there = c.nodes[to].ready_shards().await;
                let here = c.nodes[from].ready_shards().await;
                there.is_some_and(|s| s.contains(&shard))
                    && here.is_some_and(|s| !s.contains(&shard))
            },
        )
        .await;
    }
    c.nothing_lost_nothing_twice().await;
    let resumes: u64 = c.sim.counters().sessions.iter().map(|s| s.resumes).sum();
    assert!(resumes >= 6, "every move RESUMEd: {resumes}");
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_node_is_emptied_stays_up_and_takes_shards_again_when_undrained() {
    drain_and_undrain(Cluster::new(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_a_drained_node_is_emptied_and_takes_shards_again_when_undrained() {
    drain_and_undrain(Cluster::on(On::Nats, SimConfig::fast()).await).await;
}

async fn drain_and_undrain(mut c: Cluster) {
    c.start_node("a");
    c.start_node("b");
    c.settled("two nodes splitting the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    c.traffic();
    let b = c.node_id(1).await;
    let (ok, out) = cli(&c.nodes[0].admin, &["node", "drain", &b]);
    assert!(ok, "{out}");
    c.settled("b empty, a holding everything", |n| n == [4, 0])
        .await;
    let status = c.nodes[1].status().await.expect("b still answers");
    assert_eq!(status["pool"]["draining"], true, "{status}");
    assert!(c.nodes[1].alive(), "a drained node stays up");

    let (ok, out) = cli(&c.nodes[1].admin, &["node", "undrain", &b]);
    assert!(ok, "{out}");
    // even by guilds, which the fake does not spread evenly over shards
    c.settled("b running shards again", |n| n.iter().all(|x| *x > 0))
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_gets_shards_until_the_load_is_even() {
    let mut c = Cluster::new(false).await;
    c.start_node("a");
    c.settled("a holding every shard", |n| n == [4]).await;
    c.traffic();
    c.start_node("b");
    // even by guilds, which the fake does not spread evenly over shards
    c.settled("b running shards too", |n| n.iter().all(|x| *x > 0))
        .await;
    c.nothing_lost_nothing_twice().await;
    let log = c.nodes[0].output();
    assert!(log.contains("moving a shard"), "{log}");
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_the_reason() {
    let mut c = Cluster::new(false).await;
    c.start_node("a");
    c.start_node("b");
    c.settled("two nodes splitting the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    let (a, b) = (c.node_id(0).await, c.node_id(1).await);
    let admin = c.nodes[0].admin.clone();
    let held = c.nodes[0].ready_shards().await.expect("a's shards");
    let mine = held.iter().next().expect("a holds one").to_string();

    let refused = [
        (
            vec!["shards", "move", "0", "--to", "node-ghost"],
            "not a live node",
        ),
        (vec!["shards", "move", "99", "--to", &a], "does not exist"),
        (vec!["shards", "move", &mine, "--to", &a], "already runs"),
        (vec!["node", "drain", "node-ghost"], "not a live node"),
        (
            vec!["shards", "move", "0", "--to", &a, "--bot", "other"],
            "no shard pool of bot",
        ),
    ];
    for (args, reason) in refused {
        let (ok, out) = cli(&admin, &args);
        assert!(!ok, "{args:?} was accepted: {out}");
        assert!(out.contains(reason), "{args:?}: {out}");
    }
    let (ok, out) = cli(&admin, &["node", "drain", &b]);
    assert!(ok, "{out}");
    let (ok, out) = cli(&admin, &["node", "drain", &a]);
    assert!(!ok && out.contains("only node left"), "{out}");
    let (ok, out) = cli(&admin, &["shards", "move", "0", "--to", &b]);
    assert!(!ok && out.contains("is drained"), "{out}");
    let port = switchyard_testkit::free_port();
    let (ok, out) = cli(&format!("127.0.0.1:{port}"), &["node", "undrain", &b]);
    assert!(!ok && out.contains("cannot reach"), "{out}");
    // every node still serves
    c.settled("b drained", |n| n == [4, 0]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_paused_past_its_lease_publishes_nothing_more_for_shards_it_lost() {
    paused_past_its_lease(Cluster::new(false).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_a_node_paused_past_its_lease_publishes_nothing_more_for_shards_it_lost() {
    paused_past_its_lease(Cluster::on(On::Nats, SimConfig::fast()).await).await;
}

/// SIGSTOP of the node that does not coordinate while events flow to its connection, until
/// the other resumed its shards; then SIGCONT.
async fn paused_past_its_lease(mut c: Cluster) {
    c.start_node("a");
    c.start_node("b");
    c.settled("two nodes splitting the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    let coordinator = c.coordinator().await;
    let paused = 1 - coordinator;
    let lost = c.nodes[paused].ready_shards().await.expect("its shards");
    c.traffic();
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.nodes[paused].signal("STOP");
    // Events keep coming to the paused node's connection until the other one resumes its
    // shards; they wait in its socket.
    c.settled_without(paused, "the other node holding every shard")
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.nodes[paused].signal("CONT");
    until(
        "the woken node dropping what it lost",
        60,
        &c.refs(),
        async || c.nodes[paused].output().contains("lost the shard"),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    c.nothing_lost_none_stale().await;
    assert!(!lost.is_empty());
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_whose_target_is_killed_mid_handover_loses_nothing() {
    let mut c = Cluster::new(true).await;
    c.start_node("a");
    c.start_node("b");
    c.start_node("c");
    c.settled("three nodes sharing the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    c.traffic();
    let coordinator = c.coordinator().await;
    // move a shard of one non-coordinator to the other, and kill the target at once
    let (from, to) = match coordinator {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    };
    let held = c.nodes[from].ready_shards().await.expect("shards");
    let shard = *held.iter().next().expect("one");
    let target = c.node_id(to).await;
    let (ok, out) = cli(
        &c.nodes[coordinator].admin,
        &["shards", "move", &shard.to_string(), "--to", &target],
    );
    assert!(ok, "{out}");
    c.nodes[to].signal("KILL");
    c.settled_without(to, "every shard running on the two nodes left")
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

impl Cluster {
    /// Like [`Cluster::settled`], leaving node `gone` out.
    async fn settled_without(&self, gone: usize, what: &str) {
        let refs = self.refs();
        until(what, 60, &refs, async || {
            let mut all = BTreeSet::new();
            for (i, n) in self.nodes.iter().enumerate() {
                if i == gone {
                    continue;
                }
                let Some(ready) = n.ready_shards().await else {
                    return false;
                };
                all.extend(ready);
            }
            all.len() == SHARDS as usize
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_starting_together_identify_one_at_a_time() {
    identify_one_at_a_time(On::Redis { durable: false }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_three_processes_starting_together_identify_one_at_a_time() {
    identify_one_at_a_time(On::Nats).await;
}

/// Three nodes, started together against a fake with `max_concurrency` 1.
async fn identify_one_at_a_time(on: On) {
    let mut config = SimConfig::fast();
    config.max_concurrency = 1;
    config.timings.identify_window_ms = 300;
    let mut c = Cluster::on(on, config).await;
    for name in ["a", "b", "c"] {
        c.start_node_with(name, &[("SWITCHYARD_GATEWAY_IDENTIFY_WINDOW_MS", "300")]);
    }
    c.settled("three nodes sharing the shards", |n| {
        n.iter().filter(|x| **x > 0).count() >= 2
    })
    .await;
    let counters = c.sim.counters();
    assert_eq!(
        (counters.identifies, counters.identifies_too_fast),
        (u64::from(SHARDS), 0),
        "one IDENTIFY per shard, none within the window of another"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_of_three_nodes_identifies_nothing_and_loses_nothing() {
    let mut c = Cluster::new(true).await;
    for name in ["a", "b", "c"] {
        c.start_node(name);
    }
    c.settled("three nodes sharing the shards", |n| {
        n.iter().filter(|x| **x > 0).count() >= 2
    })
    .await;
    c.traffic();
    for i in 0..3 {
        // drain, stop, start the new version, as docs/pool.md says
        let id = c.node_id(i).await;
        // the last node started is up (the first round's is c)
        let asked = c.nodes.last().expect("nodes").admin.clone();
        let (ok, out) = cli(&asked, &["node", "drain", &id]);
        assert!(ok, "{out}");
        until("the node drained", 60, &c.refs(), async || {
            c.nodes[i]
                .ready_shards()
                .await
                .is_some_and(|s| s.is_empty())
        })
        .await;
        let status = c.nodes[i].terminate(Duration::from_secs(20)).await;
        assert!(status.success(), "{status}");
        c.start_node(&format!("new{i}"));
        let new = c.nodes.len() - 1;
        until("the new node running shards", 60, &c.refs(), async || {
            c.nodes[new]
                .ready_shards()
                .await
                .is_some_and(|s| !s.is_empty())
        })
        .await;
    }
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_killed_mid_move_loses_nothing() {
    let mut c = Cluster::new(true).await;
    c.start_node("a");
    c.start_node("b");
    c.settled("two nodes splitting the shards", |n| {
        n.iter().all(|x| *x > 0)
    })
    .await;
    c.traffic();
    let coordinator = c.coordinator().await;
    let other = 1 - coordinator;
    let held = c.nodes[coordinator].ready_shards().await.expect("shards");
    let shard = held.iter().next().expect("one").to_string();
    let to = c.node_id(other).await;
    let (ok, out) = cli(
        &c.nodes[coordinator].admin,
        &["shards", "move", &shard, "--to", &to],
    );
    assert!(ok, "{out}");
    c.nodes[coordinator].signal("KILL");
    c.settled_without(coordinator, "every shard on the node left")
        .await;
    c.nothing_lost_nothing_twice().await;
    c.recorder.abort();
}
