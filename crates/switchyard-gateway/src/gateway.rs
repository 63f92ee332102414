//! Starting and stopping one bot's gateway: `GET /gateway/bot`, the shard range, the identify
//! queue, a runner and a publisher per shard, the session saver and the outbound path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use switchyard_broker::{Broker, Pattern};
use switchyard_rest::RestClient;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bot_rest::BotRest;
use crate::cache_view::CacheView;
use crate::command::forward::Forwarder;
use crate::config::GatewayConfig;
use crate::discord::{GatewayBot, gateway_bot, own_user_id};
use crate::error::{GatewayError, ShardStopped};
use crate::interactions::{InteractionsConfig, InteractionsError, OpenInteractions};
use crate::outbound::{self, Worker};
use crate::queue::{IdentifyQueue, SessionStartLimit};
use crate::router::Router;
use crate::session::snapshot::Snapshots;
use crate::session::{SessionStore, run_saver};
use crate::shard::Progress;
use crate::shards::{ShardCtx, ShardSet};
use crate::status::{ShardSnapshot, ShardStatus};
use switchyard_core::outbound::CommandTopics;

/// What the gateway needs from the rest of the process.
#[derive(Clone)]
pub struct GatewayDeps {
    /// Where events are published and outbound messages read.
    pub broker: Arc<dyn Broker>,
    /// The process's rate-limited REST client.
    pub rest: RestClient,
    /// Where sessions are saved.
    pub sessions: Arc<dyn SessionStore>,
    /// The key-value store shared by every process of the bot (Redis, NATS KV): when set,
    /// the identify queue is shared through it, so that processes splitting the shards still
    /// identify once per bucket per window between them.
    pub shared: Option<Arc<dyn switchyard_broker::kv::KvStore>>,
}

/// One bot's gateway, running.
pub struct RunningGateway {
    bot: String,
    shards: Arc<ShardSet>,
    stop: watch::Sender<bool>,
    saver_stop: watch::Sender<bool>,
    saver: Option<JoinHandle<()>>,
    outbound: Option<JoinHandle<()>>,
    /// The outbound path before it starts (see [`RunningGateway::open_outbound`]).
    outbound_run: Option<OutboundRun>,
    /// Reads the acknowledgements of forwarded gateway commands.
    acks: Option<JoinHandle<()>>,
    /// The interactions of the HTTP endpoint, shared with the outbound path.
    interactions: Arc<OpenInteractions>,
    /// REST calls with the bot's token, for callers beside the outbound topics.
    rest: BotRest,
}

/// The outbound path's task, not yet spawned.
type OutboundRun = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Adds and removes the shards of a [`RunningGateway`] from another task.
#[derive(Clone)]
pub struct ShardHandle(Arc<ShardSet>);

impl ShardHandle {
    /// The total shard count of the bot.
    pub fn total(&self) -> u32 {
        self.0.ctx().total
    }

    /// The ids running now.
    pub async fn ids(&self) -> Vec<u32> {
        self.0.ids().await
    }

    /// See [`RunningGateway::add_shards`].
    pub async fn add(&self, ids: &[u32]) -> Result<(), GatewayError> {
        self.0.add(ids).await
    }

    /// See [`RunningGateway::remove_shards`].
    pub async fn remove(&self, ids: &[u32]) {
        self.0.remove(ids).await;
    }

    /// Like [`ShardHandle::remove`], but aborts the shards still closing after `grace` (their
    /// sessions are saved either way, within `grace` again).
    pub async fn remove_within(&self, ids: &[u32], grace: Duration) {
        self.0.remove_within(ids, grace).await;
    }

    /// The shard set itself, for the pool.
    pub(crate) fn set(&self) -> &ShardSet {
        &self.0
    }
}

/// The gateway's state, for `/status`.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayStatus {
    /// The bot's name.
    pub bot: String,
    /// Shards that have been ready at least once.
    pub ready: u32,
    /// Shards this node runs.
    pub total: u32,
    /// Identifies left before the session start limit.
    pub identifies_remaining: u32,
    /// When the session start limit is exhausted: seconds until it resets.
    pub identify_limit_resets_in_s: Option<u64>,
    /// Each shard.
    pub shards: Vec<ShardSnapshot>,
}

/// Starts one bot's gateway with the configured shards (`shard_range`, else all of them).
pub async fn start(
    config: GatewayConfig,
    deps: GatewayDeps,
) -> Result<RunningGateway, GatewayError> {
    let (mut gateway, ids) = prepare(config, deps).await?;
    gateway.shards.add(&ids).await?;
    // After the shards: a durable broker's backlog may hold commands for them.
    gateway.open_outbound();
    Ok(gateway)
}

/// Starts one bot's gateway with no shard yet: a shard pool hands them out
/// ([`RunningGateway::add_shards`], [`RunningGateway::remove_shards`]).
pub async fn start_empty(
    config: GatewayConfig,
    deps: GatewayDeps,
) -> Result<RunningGateway, GatewayError> {
    let mut gateway = prepare(config, deps).await?.0;
    gateway.open_outbound();
    Ok(gateway)
}

/// Everything but the shards; returns the configured shard ids too.
async fn prepare(
    config: GatewayConfig,
    deps: GatewayDeps,
) -> Result<(RunningGateway, Vec<u32>), GatewayError> {
    let config = Arc::new(config.effective());
    if config.token.is_empty() {
        return Err(GatewayError::NoToken);
    }
    let info = match gateway_bot(&deps.rest, config.token.expose()).await {
        Ok(info) => info,
        Err(e) if config.gateway_url.is_some() && config.shards.is_some() => {
            tracing::warn!(error = %e, "GET /gateway/bot failed; using the configured URL and shard count with default identify limits");
            GatewayBot {
                url: String::new(),
                shards: 1,
                limit: SessionStartLimit::default(),
            }
        }
        Err(e) => return Err(e),
    };
    let url = config.gateway_url.clone().unwrap_or(info.url);
    let total = config.shards.unwrap_or(info.shards);
    if total == 0 {
        return Err(GatewayError::NoShards);
    }
    let (first, last) = match config.shard_range {
        Some(r) if r.first > r.last || r.last >= total => {
            return Err(GatewayError::ShardRange {
                first: r.first,
                last: r.last,
                total,
            });
        }
        Some(r) => (r.first, r.last),
        None => (0, total - 1),
    };
    let ids: Vec<u32> = (first..=last).collect();
    tracing::info!(bot = %config.bot, gateway = %url, total, first, last, max_concurrency = info.limit.max_concurrency,
        identifies_remaining = info.limit.remaining, "starting shards");
    let outbound_sub = if config.outbound {
        let pattern =
            Pattern::new(&config.outbound_pattern).map_err(GatewayError::name(format!(
                "bot {}: outbound pattern (gateway.bots[].outbound_pattern)",
                config.bot
            )))?;
        let sub = outbound::subscribe(&*deps.broker, &pattern, &config.bot).await?;
        Some((pattern, sub))
    } else {
        None
    };
    let mut router = Router::new(&config);
    if router.skips_own_messages() || config.outbound {
        // A resumed session gets no READY, so the id cannot wait for one. Gateway commands
        // need it too: a voice state update answers a voice request only if it is the bot's.
        match own_user_id(&deps.rest, config.token.expose()).await {
            Ok(id) => router = router.with_own_user(Some(id)),
            Err(e) => tracing::warn!(bot = %config.bot, error = %e,
                "GET /users/@me failed; the bot's own messages and voice states are recognised only once a shard gets READY"),
        }
    }
    let shards = Arc::new(ShardSet::new(ShardCtx {
        config: config.clone(),
        router: Arc::new(router),
        queue: match &deps.shared {
            Some(kv) => IdentifyQueue::shared(
                info.limit,
                config.identify_window,
                kv.clone(),
                config.token.expose(),
            ),
            None => IdentifyQueue::new(info.limit, config.identify_window),
        },
        gateway_url: url,
        total,
        broker: deps.broker.clone(),
        sessions: deps.sessions.clone(),
        commands: CommandTopics::new(&config.bot),
        progress: Arc::new(Progress {
            ready: AtomicU32::new(0),
            total: AtomicU32::new(0),
        }),
    }));
    let (stop, stop_rx) = watch::channel(false);
    let (saver_stop, saver_stop_rx) = watch::channel(false);
    let saver = tokio::spawn(run_saver(
        deps.sessions.clone(),
        deps.broker.clone(),
        config.bot.clone(),
        shards.list().clone(),
        config.session_save_interval,
        Snapshots::new(config.cache.snapshot_interval),
        saver_stop_rx,
    ));
    let mut acks = None;
    let interactions = Arc::new(OpenInteractions::default());
    let outbound = match outbound_sub {
        Some((pattern, sub)) => {
            let commands = match Forwarder::start(
                deps.broker.clone(),
                &config.bot,
                total,
                config.intents.bits(),
                config.command_ack_timeout,
            )
            .await
            {
                Ok((forwarder, reader)) => {
                    acks = Some(reader);
                    Some(Arc::new(forwarder))
                }
                // REST still works; commands are refused with the reason.
                Err(e) => {
                    tracing::warn!(bot = %config.bot, error = %e,
                        "cannot forward gateway commands; they are refused (with a durable broker, add `command` to broker.durable_prefixes)");
                    None
                }
            };
            let out = Worker {
                broker: deps.broker.clone(),
                rest: deps.rest.clone(),
                token: config.token.clone(),
                config: config.clone(),
                commands,
                interactions: interactions.clone(),
            };
            // Spawned once the configured shards (and their command holders) run.
            let run: OutboundRun = Box::pin(outbound::run(out, pattern, sub, stop_rx.clone()));
            Some(run)
        }
        None => None,
    };
    let gateway = RunningGateway {
        bot: config.bot.clone(),
        shards,
        stop,
        saver_stop,
        saver: Some(saver),
        outbound: None,
        outbound_run: outbound,
        acks,
        rest: BotRest::new(
            &config.bot,
            deps.rest.clone(),
            config.token.clone(),
            interactions.clone(),
        ),
        interactions,
    };
    Ok((gateway, ids))
}

impl RunningGateway {
    /// Starts reading the outbound topics.
    fn open_outbound(&mut self) {
        if let Some(run) = self.outbound_run.take() {
            self.outbound = Some(tokio::spawn(run));
        }
    }

    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// REST calls with the bot's token (the gRPC REST service's).
    pub fn rest(&self) -> BotRest {
        self.rest.clone()
    }

    /// Reads of this bot's shard caches on this node.
    pub fn cache_view(&self) -> CacheView {
        CacheView::new(self.bot.clone(), self.shards.clone())
    }

    /// The total shard count of the bot (this node runs some of them).
    pub fn total_shards(&self) -> u32 {
        self.shards.ctx().total
    }

    /// Each running shard's live state.
    pub fn shards(&self) -> Vec<Arc<ShardStatus>> {
        self.shards
            .list()
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The ids of the shards running now.
    pub async fn shard_ids(&self) -> Vec<u32> {
        self.shards.ids().await
    }

    /// Starts these shards (those not already running), each RESUMEing its saved session.
    pub async fn add_shards(&self, ids: &[u32]) -> Result<(), GatewayError> {
        self.shards.add(ids).await
    }

    /// Stops these shards resumably, drains their events into the broker and saves their
    /// sessions, so that another process can RESUME them.
    pub async fn remove_shards(&self, ids: &[u32]) {
        self.shards.remove(ids).await;
    }

    /// Serves Discord's HTTP interactions endpoint for this bot: interactions are published
    /// on its topics, and its callbacks through the outbound path answer them.
    pub async fn serve_interactions(
        &self,
        config: &InteractionsConfig,
    ) -> Result<crate::interactions::RunningInteractions, InteractionsError> {
        let table = self.interactions.clone();
        crate::interactions::serve(config, table, self.shards.ctx()).await
    }

    /// A handle to add and remove shards from another task (the shard pool).
    pub fn shard_handle(&self) -> ShardHandle {
        ShardHandle(self.shards.clone())
    }

    /// A closure producing the status, for an admin listener.
    pub fn status_fn(&self) -> impl Fn() -> GatewayStatus + Send + Sync + 'static {
        let bot = self.bot.clone();
        let shards = self.shards.clone();
        move || status_of(&bot, &shards)
    }

    /// A cheap closure reading how many of this node's shards have been ready once, and how
    /// many it runs: `(ready, total)`, for a startup progress display.
    pub fn readiness_fn(&self) -> impl Fn() -> (u32, u32) + Send + Sync + 'static {
        let progress = self.shards.ctx().progress.clone();
        move || {
            (
                progress.ready.load(Ordering::Relaxed),
                progress.total.load(Ordering::Relaxed),
            )
        }
    }

    /// The current status.
    pub fn status(&self) -> GatewayStatus {
        status_of(&self.bot, &self.shards)
    }

    /// Waits until every running shard has been ready once; false on timeout.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        let progress = self.shards.ctx().progress.clone();
        tokio::time::timeout(timeout, async {
            while progress.ready.load(Ordering::Relaxed) < progress.total.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_ok()
    }

    /// Resolves once shards run and every one has stopped by itself (fatal closes); returns
    /// their errors. Never resolves while this node holds no shard.
    pub async fn stopped(&mut self) -> Vec<ShardStopped> {
        self.shards.stopped().await
    }

    /// Stops every task at once, as a crash would: no close frame, no drain, no final session
    /// save. What was saved before stays, so a restart RESUMEs from it.
    pub async fn abort(mut self) {
        self.shards.abort().await;
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        if let Some(outbound) = self.outbound.take() {
            outbound.abort();
        }
        if let Some(acks) = self.acks.take() {
            acks.abort();
        }
    }

    /// Stops every shard (closing resumably, so that a restart RESUMEs), drains the queues
    /// into the broker, saves the sessions and stops the outbound path.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        self.shards.remove_all().await;
        self.saver_stop.send_replace(true);
        if let Some(saver) = self.saver.take() {
            let _ = saver.await;
        }
        if let Some(mut outbound) = self.outbound.take() {
            // What the workers hold gets a second; then they stop (a durable broker keeps
            // what they did not acknowledge).
            if tokio::time::timeout(Duration::from_secs(1), &mut outbound)
                .await
                .is_err()
            {
                outbound.abort();
            }
        }
        if let Some(acks) = self.acks.take() {
            acks.abort();
        }
    }
}

fn status_of(bot: &str, shards: &ShardSet) -> GatewayStatus {
    let ctx = shards.ctx();
    let list = shards
        .list()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    GatewayStatus {
        bot: bot.to_owned(),
        ready: ctx.progress.ready.load(Ordering::Relaxed),
        total: ctx.progress.total.load(Ordering::Relaxed),
        identifies_remaining: ctx.queue.remaining(),
        identify_limit_resets_in_s: ctx.queue.exhausted_until().map(|t| {
            t.duration_since(std::time::SystemTime::now())
                .map_or(0, |d| d.as_secs())
        }),
        shards: list.iter().map(|s| s.snapshot()).collect(),
    }
}
