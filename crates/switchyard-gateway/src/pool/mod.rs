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
//!
//! Healthy shards move too (`coordinator`: operator moves, drains, balancing by guilds), in
//! a fenced handover: the old node closes the shard resumably, saves it and says SHARD_DEATH;
//! only then does the target get it, with a higher epoch, and RESUME it. Every grant is
//! renewed at every beat; a node that hears none for a lease holds the shard's events
//! ([`crate::fence`]). `member` is one node's loop; [`PoolControl`] asks it for moves.

mod coordinator;
mod guard;
mod lease;
mod member;

pub use coordinator::MoveRefusal;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use switchyard_broker::kv::KvStore;
use switchyard_broker::{Broker, Pattern, Topic};
use switchyard_core::control::auth::{ControlKey, Verifier};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::GatewayError;
use crate::gateway::ShardHandle;
use crate::locator::ShardLocator;
use guard::AcceptGuard;
use lease::Lease;
use member::Member;

/// How the pool behaves.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// A node silent this long is dead; the coordinator's lease lasts this long. Nodes beat
    /// three times per lease.
    pub lease: Duration,
    /// The control key: it signs this node's SHARD_CONNECT, SHARD_ACCEPT and SHARD_DEATH,
    /// and the node obeys only those signed with it. `None`: unsigned, from anyone.
    pub key: Option<ControlKey>,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            lease: Duration::from_secs(5),
            key: None,
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
    /// Whether this node is drained (it runs no shard until undrained).
    pub draining: bool,
    /// Which node runs each shard (as the coordinator knows it; empty on other nodes).
    pub owners: std::collections::BTreeMap<u32, String>,
    /// The moves in flight (coordinator only).
    pub moves: Vec<MoveStatus>,
}

/// A shard on its way to another node.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MoveStatus {
    /// The shard.
    pub shard: u32,
    /// The node it leaves.
    pub from: String,
    /// The node it goes to.
    pub to: String,
}

/// What an operator asks of the pool.
#[derive(Debug)]
enum Request {
    Move { shard: u32, to: String },
    Drain { node: String, drain: bool },
}

/// Why the pool did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolRequestError {
    /// The coordinator refused it.
    #[error(transparent)]
    Refused(#[from] MoveRefusal),
    /// This node does not coordinate the pool: ask the holder of the lease.
    #[error("this node does not coordinate the pool (the coordinator is {holder:?})")]
    NotCoordinator {
        /// The coordinator, when the key-value store names one.
        holder: Option<String>,
    },
    /// The node left the pool.
    #[error("this node has left the pool")]
    Stopped,
}

/// Asks a node of the pool for moves and drains; the coordinator does them, other nodes
/// answer [`PoolRequestError::NotCoordinator`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PoolControl {
    tx: mpsc::Sender<(Request, oneshot::Sender<Result<(), PoolRequestError>>)>,
}

impl PoolControl {
    async fn ask(&self, request: Request) -> Result<(), PoolRequestError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((request, reply))
            .await
            .map_err(|_| PoolRequestError::Stopped)?;
        answer.await.map_err(|_| PoolRequestError::Stopped)?
    }

    /// Moves `shard` to the node `to` (a fenced handover; the shard RESUMEs there).
    pub async fn move_shard(&self, shard: u32, to: &str) -> Result<(), PoolRequestError> {
        self.ask(Request::Move {
            shard,
            to: to.to_owned(),
        })
        .await
    }

    /// Drains `node` (every shard moves off it, a few at a time; it stays up, empty), or
    /// undrains it when `drain` is false.
    pub async fn drain(&self, node: &str, drain: bool) -> Result<(), PoolRequestError> {
        self.ask(Request::Drain {
            node: node.to_owned(),
            drain,
        })
        .await
    }
}

/// A node of the pool, running.
pub struct RunningPool {
    status: Arc<Mutex<PoolStatus>>,
    locator: ShardLocator,
    control: PoolControl,
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

    /// Asks the pool for moves and drains.
    pub fn control(&self) -> PoolControl {
        self.control.clone()
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
    // at zero on every node, so that dashboards show a line rather than no data
    metrics::counter!("switchyard_gateway_pool_moves_total").increment(0);
    metrics::counter!("switchyard_gateway_pool_shards_lost_total").increment(0);
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
    let (tx, requests) = mpsc::channel(16);
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
        draining: false,
        status: status.clone(),
        locator: locator.clone(),
        beats: Default::default(),
        verifier: Verifier::new(config.key.clone()),
        key: config.key,
    };
    let task = tokio::spawn(member.run(sub, requests, stopped));
    Ok(RunningPool {
        status,
        locator,
        control: PoolControl { tx },
        stop: Some(stop),
        task: Some(task),
    })
}
