//! The shard pool: several `switchyard run` processes of one bot share its shards.
//!
//! Every process (a *node*) beats SHARD_CONNECT on `control.pool.{bot}` with the shards it
//! runs. One node is the *coordinator*: the holder of the lease `pool.{bot}.coordinator` in
//! the key-value store, renewed at every beat; when its holder dies the lease lapses and
//! another node takes it (`lease`: a node that cannot renew it stops coordinating once it
//! may have lapsed). The coordinator answers SHARD_ACCEPT to each node with the shards it
//! should run, the total and its term (`coordinator` decides); a node obeys only the
//! current lease holder (`guard`). A node that stops hands its shards back with
//! SHARD_DEATH after saving their sessions; one that dies is noticed when its beats stop for
//! a lease. Either way its shards go to the others, which RESUME them from the saved
//! sessions.

mod coordinator;
mod guard;
mod lease;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use std::time::Instant;
use switchyard_broker::kv::KvStore;
use switchyard_broker::{Broker, Pattern, Topic};
use switchyard_core::control::{ControlMessage, ControlOp, ShardAccept, ShardConnect, ShardDeath};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::GatewayError;
use crate::gateway::ShardHandle;
use crate::locator::ShardLocator;
use coordinator::Coordinator;
use guard::AcceptGuard;
use lease::Lease;

/// How the pool behaves.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// A node silent this long is dead; the coordinator's lease lasts this long. Nodes beat
    /// three times per lease.
    pub lease: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            lease: Duration::from_secs(5),
        }
    }
}

/// This node's place in the pool, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PoolStatus {
    /// This node's id.
    pub node: String,
    /// Whether it coordinates the pool now.
    pub coordinator: bool,
    /// Its term as coordinator (the lease revision at which it took the role), while it is.
    pub term: Option<u64>,
    /// The live nodes (as the coordinator knows them; empty on other nodes).
    pub nodes: Vec<String>,
}

/// A node of the pool, running.
pub struct RunningPool {
    status: Arc<Mutex<PoolStatus>>,
    locator: ShardLocator,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningPool {
    /// This node's place in the pool.
    pub fn status(&self) -> PoolStatus {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Which node runs each shard, and where this node's admin listener answers.
    pub fn locator(&self) -> ShardLocator {
        self.locator.clone()
    }

    /// A closure producing [`PoolStatus`] for the status page.
    pub fn status_fn(&self) -> impl Fn() -> PoolStatus + Send + Sync + 'static {
        let status = self.status.clone();
        move || {
            status
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        }
    }

    /// Leaves the pool: stops this node's shards (sessions saved), hands them back with
    /// SHARD_DEATH, and gives up the coordinator's lease if held.
    pub async fn leave(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningPool {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A random node id.
fn node_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{}/{nanos}", std::process::id());
    format!(
        "node-{:012x}",
        xxhash_rust::xxh3::xxh3_64(seed.as_bytes()) >> 16
    )
}

/// Joins the pool of `bot`: the shards of `shards` come and go as the coordinator says.
pub async fn join(
    bot: &str,
    shards: ShardHandle,
    broker: Arc<dyn Broker>,
    kv: Arc<dyn KvStore>,
    config: PoolConfig,
) -> Result<RunningPool, GatewayError> {
    let topic = Topic::new(&format!("control.pool.{bot}"))
        .map_err(GatewayError::name(format!("pool topic for bot {bot:?}")))?;
    let sub = broker.subscribe(&Pattern::from(&topic)).await?;
    let node = node_id();
    tracing::info!(%node, bot, lease_ms = config.lease.as_millis() as u64, "joining the shard pool");
    let status = Arc::new(Mutex::new(PoolStatus {
        node: node.clone(),
        ..PoolStatus::default()
    }));
    let (stop, stopped) = oneshot::channel();
    let key = format!("pool.{bot}.coordinator");
    let lease = Lease::new(key.clone(), node.clone(), config.lease);
    let guard = AcceptGuard::new(key, lease.call_timeout());
    let locator = ShardLocator::new(node.clone(), config.lease);
    let member = Member {
        bot: bot.to_owned(),
        node,
        topic,
        shards,
        broker,
        kv,
        ttl: config.lease,
        lease,
        guard,
        coordinator: None,
        status: status.clone(),
        locator: locator.clone(),
    };
    let task = tokio::spawn(member.run(sub, stopped));
    Ok(RunningPool {
        status,
        locator,
        stop: Some(stop),
        task: Some(task),
    })
}

struct Member {
    bot: String,
    node: String,
    topic: Topic,
    shards: ShardHandle,
    broker: Arc<dyn Broker>,
    kv: Arc<dyn KvStore>,
    /// The pool's lease: a node silent this long is dead.
    ttl: Duration,
    lease: Lease,
    guard: AcceptGuard,
    coordinator: Option<Coordinator>,
    status: Arc<Mutex<PoolStatus>>,
    locator: ShardLocator,
}

impl Member {
    async fn run(
        mut self,
        mut sub: switchyard_broker::Subscription,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let mut ticker = tokio::time::interval(self.beat_interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticker.tick() => self.beat().await,
                msg = sub.recv() => match msg {
                    Some(m) => self.heard(&m.payload).await,
                    None => {
                        tracing::error!(node = %self.node, "the pool topic closed; this node keeps its shards but no longer follows the pool");
                        let _ = stopped.await;
                        break;
                    }
                },
            }
        }
        self.leave().await;
    }

    fn beat_interval(&self) -> Duration {
        self.ttl / 3
    }

    /// How long shards handed back may take to close before they are aborted (sessions
    /// saved either way; the save gets as long again): one beat in all, so that this node
    /// keeps beating and the coordinator never takes it for dead meanwhile.
    fn stop_grace(&self) -> Duration {
        self.beat_interval() / 2
    }

    async fn send<T: Serialize>(&self, op: ControlOp, body: &T) {
        let sent = match ControlMessage::new(self.node.clone(), op, body) {
            Ok(msg) => self
                .broker
                .publish(&self.topic, Bytes::from(msg.encode()))
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(node = %self.node, op = op.name(), error = %e, "cannot send to the pool");
        }
    }

    /// One beat: SHARD_CONNECT with what we hold, the coordinator's lease, and (as
    /// coordinator) SHARD_ACCEPT to every node.
    async fn beat(&mut self) {
        let held = self.shards.ids().await;
        let hello = ShardConnect {
            bot: self.bot.clone(),
            node: self.node.clone(),
            shards: held.clone(),
            admin: self.locator.own_admin(),
        };
        self.send(ControlOp::ShardConnect, &hello).await;
        self.lease.renew(&*self.kv).await;
        let term = self.sync_role(Instant::now());
        let (Some(term), Some(coordinator)) = (term, self.coordinator.as_mut()) else {
            return;
        };
        // Our own beat counts even if the broker is slow to echo it.
        coordinator.heard(&self.node, &held, Instant::now());
        let plan = coordinator.assign(Instant::now());
        let nodes: Vec<String> = coordinator.nodes().into_iter().collect();
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .nodes = nodes;
        let total = self.shards.total();
        for (node, shards) in plan {
            // Sending takes time: stop as soon as the lease may have lapsed.
            if self.lease.held(Instant::now()).is_none() {
                break;
            }
            let accept = ShardAccept {
                bot: self.bot.clone(),
                node,
                shards,
                total,
                term: Some(term),
            };
            self.send(ControlOp::ShardAccept, &accept).await;
        }
    }

    /// Starts or stops coordinating as the lease says; returns the term while coordinating.
    fn sync_role(&mut self, now: Instant) -> Option<u64> {
        let term = self.lease.held(now);
        match (term, self.coordinator.is_some()) {
            (Some(term), false) => {
                tracing::info!(node = %self.node, term, "coordinating the shard pool");
                self.coordinator = Some(Coordinator::new(self.shards.total(), self.ttl, now));
            }
            (None, true) => {
                tracing::warn!(node = %self.node, "no longer coordinating the shard pool");
                metrics::counter!("switchyard_gateway_pool_coordinator_lost_total").increment(1);
                self.coordinator = None;
            }
            _ => {}
        }
        let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
        status.coordinator = self.coordinator.is_some();
        status.term = term;
        if !status.coordinator {
            status.nodes.clear();
        }
        term
    }

    async fn heard(&mut self, payload: &[u8]) {
        let msg = match ControlMessage::decode(payload) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed pool message");
                return;
            }
        };
        let from = msg.source.clone();
        match msg.op {
            ControlOp::ShardConnect => {
                let hello = match msg.payload::<ShardConnect>() {
                    Ok(hello) => hello,
                    Err(e) => {
                        return tracing::warn!(error = %e, "ignoring a malformed SHARD_CONNECT");
                    }
                };
                if let Some(c) = &mut self.coordinator {
                    c.heard(&hello.node, &hello.shards, Instant::now());
                }
                self.locator.heard(&hello.node, hello.admin, hello.shards);
            }
            ControlOp::ShardDeath => {
                let death = match msg.payload::<ShardDeath>() {
                    Ok(death) => death,
                    Err(e) => return tracing::warn!(error = %e, "ignoring a malformed SHARD_DEATH"),
                };
                self.locator.left(&death.node);
                if let Some(c) = &mut self.coordinator {
                    tracing::info!(node = %death.node, shards = ?death.shards, "a node handed its shards back");
                    c.released(&death.node, &death.shards);
                }
            }
            ControlOp::ShardAccept => match msg.payload::<ShardAccept>() {
                Ok(accept) if accept.node == self.node => {
                    match self.guard.check(&*self.kv, &from, accept.term).await {
                        Ok(()) => self.follow(accept).await,
                        Err(refusal) => {
                            tracing::warn!(node = %self.node, from = %from, term = ?accept.term,
                                reason = %refusal, "ignoring a SHARD_ACCEPT not from the current coordinator");
                            metrics::counter!("switchyard_gateway_pool_accepts_ignored_total",
                                "reason" => refusal.label())
                            .increment(1);
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed SHARD_ACCEPT"),
            },
            _ => {}
        }
    }

    /// Runs exactly the shards granted: stops the others first, then starts the new ones.
    async fn follow(&mut self, accept: ShardAccept) {
        if accept.total != self.shards.total() {
            tracing::error!(node = %self.node, ours = self.shards.total(), theirs = accept.total,
                "the coordinator counts a different shard total; set gateway.shards the same on every node");
            return;
        }
        let held = self.shards.ids().await;
        let drop: Vec<u32> = held
            .iter()
            .copied()
            .filter(|s| !accept.shards.contains(s))
            .collect();
        let add: Vec<u32> = accept
            .shards
            .iter()
            .copied()
            .filter(|s| !held.contains(s))
            .collect();
        if !drop.is_empty() {
            tracing::info!(node = %self.node, shards = ?drop, "handing shards back");
            self.shards.remove_within(&drop, self.stop_grace()).await;
        }
        if !add.is_empty() {
            tracing::info!(node = %self.node, shards = ?add, total = accept.total, "SHARD_ACCEPT: starting shards");
            if let Err(e) = self.shards.add(&add).await {
                tracing::error!(node = %self.node, error = %e, "cannot start the granted shards");
            }
        }
    }

    /// Stops our shards (sessions saved), says SHARD_DEATH, and frees the lease.
    async fn leave(&mut self) {
        let held = self.shards.ids().await;
        // The coordinator takes a node for dead a lease after its last beat, and would hand
        // our shards out while they still close: keep beating with them until SHARD_DEATH,
        // however long closing and saving take on a loaded machine.
        let hello = ShardConnect {
            bot: self.bot.clone(),
            node: self.node.clone(),
            shards: held.clone(),
            admin: self.locator.own_admin(),
        };
        let interval = self.beat_interval();
        let removing = self.shards.remove_within(&held, interval);
        tokio::pin!(removing);
        let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        loop {
            tokio::select! {
                () = &mut removing => break,
                _ = beats.tick() => self.send(ControlOp::ShardConnect, &hello).await,
            }
        }
        let death = ShardDeath {
            bot: hello.bot,
            node: hello.node,
            shards: hello.shards,
        };
        self.send(ControlOp::ShardDeath, &death).await;
        self.lease.release(&*self.kv).await;
        tracing::info!(node = %self.node, "left the shard pool");
    }
}
