//! One node's life in the pool: it beats, coordinates while it holds the lease, obeys the
//! coordinator's SHARD_ACCEPTs (renewing its shards' grants, handing back what moved, and
//! starting what it was granted), answers operators' requests while coordinating, and hands
//! everything back when it leaves.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use switchyard_broker::kv::KvStore;
use switchyard_broker::{Broker, Topic};
use switchyard_core::control::auth::{self, ControlKey, Verifier};
use switchyard_core::control::{ControlMessage, ControlOp, ShardAccept, ShardConnect, ShardDeath};
use tokio::sync::{mpsc, oneshot};

use super::coordinator::Coordinator;
use super::guard::AcceptGuard;
use super::lease::Lease;
use super::{MoveStatus, PoolRequestError, PoolStatus, Request};
use crate::gateway::ShardHandle;
use crate::locator::ShardLocator;
use crate::shards::Grant;

type Requests = mpsc::Receiver<(Request, oneshot::Sender<Result<(), PoolRequestError>>)>;

pub(super) struct Member {
    pub(super) bot: String,
    pub(super) node: String,
    pub(super) topic: Topic,
    pub(super) shards: ShardHandle,
    pub(super) broker: Arc<dyn Broker>,
    pub(super) kv: Arc<dyn KvStore>,
    /// The pool's lease: a node silent this long is dead, and a grant unrenewed this long
    /// has lapsed.
    pub(super) ttl: Duration,
    pub(super) lease: Lease,
    pub(super) guard: AcceptGuard,
    pub(super) coordinator: Option<Coordinator>,
    /// The coordinator drained this node.
    pub(super) draining: bool,
    pub(super) status: Arc<Mutex<PoolStatus>>,
    pub(super) locator: ShardLocator,
    /// When each of the last beats was sent, by number.
    pub(super) beats: std::collections::VecDeque<(u64, Instant)>,
    /// Signs what this node sends.
    pub(super) key: Option<ControlKey>,
    /// Checks what it hears.
    pub(super) verifier: Verifier,
}

/// How many recent beats [`Member::beats`] remembers: a lease holds three.
const BEATS_KEPT: usize = 8;

impl Member {
    pub(super) async fn run(
        mut self,
        mut sub: switchyard_broker::Subscription,
        mut requests: Requests,
        mut stopped: oneshot::Receiver<()>,
    ) {
        let mut ticker = tokio::time::interval(self.beat_interval());
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                _ = ticker.tick() => self.beat().await,
                Some((request, reply)) = requests.recv() => {
                    let answer = self.request(request).await;
                    let _ = reply.send(answer);
                }
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
                .publish(
                    &self.topic,
                    Bytes::from(auth::encode(self.key.as_ref(), self.topic.as_str(), &msg)),
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = sent {
            tracing::warn!(node = %self.node, op = op.name(), error = %e, "cannot send to the pool");
        }
    }

    /// A SHARD_CONNECT numbered as a new beat, sent now.
    async fn hello(&mut self) -> ShardConnect {
        let beat = self.beats.back().map_or(1, |(n, _)| n + 1);
        self.beats.push_back((beat, Instant::now()));
        if self.beats.len() > BEATS_KEPT {
            self.beats.pop_front();
        }
        ShardConnect {
            bot: self.bot.clone(),
            node: self.node.clone(),
            shards: self.shards.ids().await,
            admin: self.locator.own_admin(),
            guilds: self.shards.set().guilds().await,
            draining: self.draining,
            beat,
        }
    }

    /// One beat: SHARD_CONNECT with what we hold, the coordinator's lease, and (as
    /// coordinator) SHARD_ACCEPT to every node.
    async fn beat(&mut self) {
        let hello = self.hello().await;
        self.send(ControlOp::ShardConnect, &hello).await;
        self.lease.renew(&*self.kv).await;
        self.sync_role(Instant::now());
        if let Some(coordinator) = self.coordinator.as_mut() {
            // Our own beat counts even if the broker is slow to echo it.
            coordinator.heard(&hello, Instant::now());
        }
        self.send_plan().await;
    }

    /// Until when an ACCEPT echoing our beat `beat` holds: a lease from when we sent that
    /// beat (the coordinator takes us for dead no sooner). `None` when that is past or the
    /// beat is unknown: the ACCEPT comes too late to be trusted.
    fn grant_until(&self, beat: Option<u64>) -> Option<Instant> {
        let now = Instant::now();
        let until = match beat {
            // An older coordinator, which does not echo beats.
            None => now + self.ttl,
            Some(n) => {
                let sent = self.beats.iter().find(|(b, _)| *b == n)?.1;
                sent + self.ttl
            }
        };
        (until > now).then_some(until)
    }

    /// As coordinator: SHARD_ACCEPT to every live node with what it should run now.
    async fn send_plan(&mut self) {
        let Some(term) = self.lease.held(Instant::now()) else {
            return;
        };
        let Some(coordinator) = self.coordinator.as_mut() else {
            return;
        };
        let plan = coordinator.assign(Instant::now());
        let accepts: Vec<ShardAccept> = plan
            .into_iter()
            .map(|(node, shards)| ShardAccept {
                bot: self.bot.clone(),
                epochs: coordinator.epochs_of(&shards),
                draining: coordinator.draining(&node),
                beat: coordinator.last_beat(&node),
                node,
                shards,
                total: self.shards.total(),
                term: Some(term),
            })
            .collect();
        {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            status.nodes = coordinator.nodes().into_iter().collect();
            status.owners = coordinator.owners().clone();
            status.moves = coordinator
                .moves()
                .iter()
                .map(|(shard, m)| MoveStatus {
                    shard: *shard,
                    from: m.from.clone(),
                    to: m.to.clone(),
                })
                .collect();
        }
        for accept in accepts {
            // Sending takes time: stop as soon as the lease may have lapsed.
            if self.lease.held(Instant::now()).is_none() {
                break;
            }
            self.send(ControlOp::ShardAccept, &accept).await;
        }
    }

    /// Starts or stops coordinating as the lease says.
    fn sync_role(&mut self, now: Instant) {
        let term = self.lease.held(now);
        match (term, self.coordinator.is_some()) {
            (Some(term), false) => {
                tracing::info!(node = %self.node, term, "coordinating the shard pool");
                let total = self.shards.total();
                self.coordinator = Some(Coordinator::new(total, self.ttl, term, now));
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
        status.draining = self.draining;
        if !status.coordinator {
            status.nodes.clear();
            status.owners.clear();
            status.moves.clear();
        }
    }

    /// An operator's request: done at once as coordinator, else refused with the name of
    /// the coordinator.
    async fn request(&mut self, request: Request) -> Result<(), PoolRequestError> {
        self.sync_role(Instant::now());
        let Some(coordinator) = self.coordinator.as_mut() else {
            let holder = self
                .kv
                .get(self.lease.key())
                .await
                .ok()
                .flatten()
                .map(|e| String::from_utf8_lossy(&e.value).into_owned())
                .filter(|h| !h.is_empty());
            return Err(PoolRequestError::NotCoordinator { holder });
        };
        let now = Instant::now();
        match &request {
            Request::Move { shard, to } => coordinator.move_shard(*shard, to, now)?,
            Request::Drain { node, drain } => coordinator.drain(node, *drain)?,
        }
        tracing::info!(node = %self.node, ?request, "pool request accepted");
        self.send_plan().await;
        Ok(())
    }

    async fn heard(&mut self, payload: &[u8]) {
        let msg = match self.verifier.check(self.topic.as_str(), payload) {
            Ok(m) => m,
            Err(auth::Refusal::Malformed(e)) => {
                metrics::counter!("switchyard_gateway_pool_malformed_total").increment(1);
                tracing::warn!(error = %e, "ignoring a malformed pool message");
                return;
            }
            Err(refusal) => return crate::services::refused(self.topic.as_str(), &refusal),
        };
        let from = msg.source.clone();
        match msg.op {
            ControlOp::ShardConnect => {
                let hello = match msg.payload::<ShardConnect>() {
                    Ok(hello) => hello,
                    Err(e) => {
                        metrics::counter!("switchyard_gateway_pool_malformed_total").increment(1);
                        return tracing::warn!(error = %e, "ignoring a malformed SHARD_CONNECT");
                    }
                };
                if let Some(c) = &mut self.coordinator {
                    c.heard(&hello, Instant::now());
                }
                self.locator.heard(&hello.node, hello.admin, hello.shards);
            }
            ControlOp::ShardDeath => {
                let death = match msg.payload::<ShardDeath>() {
                    Ok(death) => death,
                    Err(e) => {
                        metrics::counter!("switchyard_gateway_pool_malformed_total").increment(1);
                        return tracing::warn!(error = %e, "ignoring a malformed SHARD_DEATH");
                    }
                };
                if death.leaving {
                    self.locator.left(&death.node);
                }
                if let Some(c) = &mut self.coordinator {
                    tracing::info!(node = %death.node, shards = ?death.shards, leaving = death.leaving, "a node handed shards back");
                    let targets =
                        c.released(&death.node, &death.shards, death.leaving, Instant::now());
                    if !targets.is_empty() || death.leaving {
                        // The handover's second half, now rather than at the next beat.
                        self.send_plan().await;
                    }
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
                Err(e) => {
                    metrics::counter!("switchyard_gateway_pool_malformed_total").increment(1);
                    tracing::warn!(error = %e, "ignoring a malformed SHARD_ACCEPT");
                }
            },
            _ => {}
        }
    }

    /// Runs exactly the shards granted: renews the grants of those it keeps, hands back the
    /// others (dropping at once those whose grant had lapsed: they may run elsewhere), then
    /// starts the new ones.
    async fn follow(&mut self, accept: ShardAccept) {
        if accept.total != self.shards.total() {
            tracing::error!(node = %self.node, ours = self.shards.total(), theirs = accept.total,
                "the coordinator counts a different shard total; set gateway.shards the same on every node");
            return;
        }
        let Some(until) = self.grant_until(accept.beat) else {
            metrics::counter!("switchyard_gateway_pool_accepts_ignored_total", "reason" => "stale")
                .increment(1);
            return tracing::warn!(node = %self.node, beat = ?accept.beat,
                "ignoring a SHARD_ACCEPT that answers a beat older than a lease (was this node paused?)");
        };
        if accept.draining != self.draining {
            tracing::info!(node = %self.node, draining = accept.draining, "the coordinator changed this node's drain");
            self.draining = accept.draining;
            // /status says so now, not at the next beat: the shards leave right after this
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            status.draining = accept.draining;
        }
        let grant = Grant {
            epochs: accept.epochs,
            until,
        };
        let set = self.shards.set();
        let mut lapsed = set.renew(&grant).await;
        lapsed.extend(set.fenced().await);
        let held = self.shards.ids().await;
        let (lost, handed): (Vec<u32>, Vec<u32>) = held
            .iter()
            .copied()
            .filter(|s| !accept.shards.contains(s))
            .partition(|s| lapsed.contains(s));
        let add: Vec<u32> = accept
            .shards
            .iter()
            .copied()
            .filter(|s| !held.contains(s))
            .collect();
        if !lost.is_empty() {
            set.remove_lost(&lost).await;
        }
        if !handed.is_empty() {
            tracing::info!(node = %self.node, shards = ?handed, "handing shards back");
            self.shards.remove_within(&handed, self.stop_grace()).await;
            let death = ShardDeath {
                bot: self.bot.clone(),
                node: self.node.clone(),
                shards: handed,
                leaving: false,
            };
            self.send(ControlOp::ShardDeath, &death).await;
        }
        if !add.is_empty() {
            tracing::info!(node = %self.node, shards = ?add, total = accept.total, "SHARD_ACCEPT: starting shards");
            if let Err(e) = set.add_granted(&add, Some(&grant)).await {
                tracing::error!(node = %self.node, error = %e, "cannot start the granted shards");
            }
        }
    }

    /// Stops our shards (sessions saved), says SHARD_DEATH, and frees the lease.
    async fn leave(&mut self) {
        // The coordinator takes a node for dead a lease after its last beat, and would hand
        // our shards out while they still close: keep beating with them until SHARD_DEATH,
        // however long closing and saving take on a loaded machine.
        let hello = self.hello().await;
        let interval = self.beat_interval();
        let shards = self.shards.clone();
        let held = hello.shards.clone();
        let removing = shards.remove_within(&held, interval);
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
            leaving: true,
        };
        self.send(ControlOp::ShardDeath, &death).await;
        self.lease.release(&*self.kv).await;
        tracing::info!(node = %self.node, "left the shard pool");
    }
}
