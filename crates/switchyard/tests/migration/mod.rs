//! The harness of the live-migration tests: a fake Discord, a private broker (Redis or NATS,
//! its key-value store holding the pool), a recorder of every event's shard, sequence and
//! epoch, and `switchyard run` nodes of one bot's shard pool.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake};
use switchyard_testkit::{NatsServer, RedisServer};

use super::pool_node::{Node, assert_no_token, until};

/// The shards of every case.
pub const SHARDS: u32 = 4;

/// What the subscriber got: per shard, how many times each sequence, and the events that
/// came under an epoch older than one already seen for their shard.
#[derive(Default)]
pub struct Seen {
    pub count: BTreeMap<u64, BTreeMap<u64, u32>>,
    pub epoch: BTreeMap<u64, u64>,
    pub stale: Vec<Stale>,
}

/// An event that came under an epoch older than one already seen for its shard.
#[derive(Debug, PartialEq)]
pub struct Stale {
    pub shard: u64,
    pub seq: u64,
    pub epoch: u64,
    /// The number of [`Cluster::traffic`]'s message, when it is one.
    pub message: Option<usize>,
}

/// A fake Discord, a private broker, a recorder, and the nodes started so far.
pub struct Cluster {
    pub sim: Arc<SimHandle>,
    pub url: String,
    pub seen: Arc<Mutex<Seen>>,
    pub recorder: tokio::task::JoinHandle<()>,
    pub traffic: Option<(Arc<AtomicBool>, tokio::task::JoinHandle<()>)>,
    /// How many messages [`Cluster::traffic`] injected so far.
    pub injected: Arc<AtomicUsize>,
    pub nodes: Vec<Node>,
    pub dir: tempfile::TempDir,
    pub _server: Server,
}

/// The broker and key-value store the nodes share, kept running until the cluster drops.
#[allow(dead_code)]
pub enum Server {
    Redis(RedisServer),
    Nats(NatsServer),
}

/// Which one, and whether a durable group (Redis Streams, JetStream) reads.
#[derive(Clone, Copy)]
pub enum On {
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
    pub async fn new(durable: bool) -> Cluster {
        Cluster::on(On::Redis { durable }, SimConfig::fast()).await
    }

    /// A fake Discord as `config` says (with [`SHARDS`] shards), a private server and a
    /// recorder; no node yet.
    pub async fn on(on: On, mut config: SimConfig) -> Cluster {
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
            injected: Arc::default(),
            nodes: Vec::new(),
            dir: tempfile::tempdir().expect("tempdir"),
            _server: server,
        }
    }

    /// Nodes `a` and `b`, once they have split the shards between them.
    pub async fn two_nodes(&mut self) {
        self.start_node("a");
        self.start_node("b");
        self.settled("two nodes splitting the shards", |n| {
            n.iter().all(|x| *x > 0)
        })
        .await;
    }

    pub fn start_node(&mut self, name: &str) {
        self.start_node_with(name, &[]);
    }

    /// A node with `env`; the migration tests run the pool unsigned (the pool tests sign).
    pub fn start_node_with(&mut self, name: &str, env: &[(&str, &str)]) {
        let env: Vec<(&str, &str)> = std::iter::once(("SWITCHYARD_CONTROL_KEY", ""))
            .chain(env.iter().copied())
            .collect();
        let node = Node::start_with(&self.sim, &self.url, self.dir.path(), name, 20, &env);
        self.nodes.push(node);
    }

    pub fn refs(&self) -> Vec<&Node> {
        self.nodes.iter().collect()
    }

    /// Waits until the live nodes' ready shards are disjoint and cover every shard, and
    /// `check` holds for their counts.
    pub async fn settled(&self, what: &str, check: impl Fn(&[usize]) -> bool) {
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
    pub fn traffic(&mut self) {
        let channels: Vec<u64> = self
            .sim
            .world()
            .guilds
            .iter()
            .filter_map(|g| g.channels.iter().find(|c| c.kind == 0).map(|c| c.id))
            .collect();
        let (stop, sim) = (Arc::new(AtomicBool::new(false)), self.sim.clone());
        let (flag, injected) = (stop.clone(), self.injected.clone());
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
                injected.store(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        self.traffic = Some((stop, task));
    }

    pub async fn quiet(&mut self) {
        if let Some((stop, task)) = self.traffic.take() {
            stop.store(true, Ordering::Relaxed);
            let _ = task.await;
        }
    }

    /// Waits until the subscriber has every sequence of every session of the fake, then
    /// checks that none came twice, none under a stale epoch, and no shard identified more
    /// than once.
    pub async fn nothing_lost_nothing_twice(&mut self) {
        self.check(false, 0).await;
    }

    /// Like [`Cluster::nothing_lost_nothing_twice`], but allowing events twice: after a
    /// node stopped without saving (a crash, a pause), its successor RESUMEs from the last
    /// save and publishes again what came after it (at least once, on a broker without
    /// deduplication). Under a stale epoch may come only messages numbered below
    /// `in_flight_below`: those a node paused may have been handing to its broker client
    /// when it stopped, which leave once it wakes (consumers refuse them by their epoch).
    pub async fn nothing_lost_none_stale(&mut self, in_flight_below: usize) {
        self.check(true, in_flight_below).await;
    }

    pub async fn check(&mut self, replays: bool, in_flight_below: usize) {
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
        let stale: Vec<&Stale> = seen
            .stale
            .iter()
            .filter(|s| s.message.is_none_or(|n| n >= in_flight_below))
            .collect();
        assert_eq!(stale, [] as [&Stale; 0], "under a stale epoch");
        let sessions = self.sim.counters().sessions;
        assert_eq!(
            sessions.len(),
            SHARDS as usize,
            "no IDENTIFY after the first: {sessions:?}"
        );
        assert_no_token(&self.nodes);
    }

    /// Node `i`'s id in the pool.
    pub async fn node_id(&self, i: usize) -> String {
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

    pub async fn coordinator(&self) -> usize {
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

pub fn record(seen: &Mutex<Seen>, payload: &[u8]) {
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
            let message = v["d"]["content"]
                .as_str()
                .and_then(|c| c.strip_prefix("event "))
                .and_then(|n| n.parse().ok());
            seen.stale.push(Stale {
                shard,
                seq,
                epoch,
                message,
            });
        }
        *highest = (*highest).max(epoch);
    }
}

/// Runs `switchyard ARGS… --admin ADDR`; returns success and what it printed.
pub fn cli(admin: &str, args: &[&str]) -> (bool, String) {
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

impl Cluster {
    /// Like [`Cluster::settled`], leaving node `gone` out.
    pub async fn settled_without(&self, gone: usize, what: &str) {
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
