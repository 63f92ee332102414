//! Starting and stopping one bot's gateway: `GET /gateway/bot`, the shard range, the identify
//! queue, a runner and a publisher per shard, the session saver and the outbound path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::Serialize;
use switchyard_broker::{Broker, Pattern};
use switchyard_rest::{RestClient, RestRequest};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::GatewayConfig;
use crate::error::GatewayError;
use crate::outbound::{self, Outbound};
use crate::queue::{IdentifyQueue, SessionStartLimit};
use crate::route::Router;
use crate::session::{SessionStore, run_saver, session_key};
use crate::shard::{Progress, ShardTask};
use crate::status::{ShardSnapshot, ShardStatus};

/// What `GET /gateway/bot` answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayBot {
    /// The gateway URL.
    pub url: String,
    /// The recommended shard count.
    pub shards: u32,
    /// The identify limits.
    pub limit: SessionStartLimit,
}

/// Asks Discord (through the rate-limited client) for the gateway URL, shard count and
/// session start limit.
pub async fn gateway_bot(rest: &RestClient, token: &str) -> Result<GatewayBot, GatewayError> {
    let res = rest
        .send(RestRequest::new(
            http::Method::GET,
            "/gateway/bot",
            Some(token),
        ))
        .await
        .map_err(|e| GatewayError::GatewayBot(e.to_string()))?;
    let status = res.status;
    let body = res
        .bytes()
        .await
        .map_err(|e| GatewayError::GatewayBot(e.to_string()))?;
    if !status.is_success() {
        let hint = if status.as_u16() == 401 {
            " (the token was rejected: set a valid DISCORD_TOKEN or gateway.token)"
        } else {
            ""
        };
        return Err(GatewayError::GatewayBot(format!(
            "Discord answered {status}{hint}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::GatewayBot(format!("not JSON: {e}")))?;
    let num = |v: &serde_json::Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    let url = v["url"]
        .as_str()
        .ok_or_else(|| GatewayError::GatewayBot("no `url` in the answer".into()))?
        .to_owned();
    let ssl = &v["session_start_limit"];
    let default = SessionStartLimit::default();
    Ok(GatewayBot {
        url,
        shards: num(&v["shards"]).unwrap_or(1).max(1),
        limit: SessionStartLimit {
            total: num(&ssl["total"]).unwrap_or(default.total),
            remaining: num(&ssl["remaining"]).unwrap_or(default.remaining),
            reset_after: ssl["reset_after"]
                .as_u64()
                .map_or(default.reset_after, Duration::from_millis),
            max_concurrency: num(&ssl["max_concurrency"]).unwrap_or(1).max(1),
        },
    })
}

/// What the gateway needs from the rest of the process.
#[derive(Clone)]
pub struct GatewayDeps {
    /// Where events are published and outbound messages read.
    pub broker: Arc<dyn Broker>,
    /// The process's rate-limited REST client.
    pub rest: RestClient,
    /// Where sessions are saved.
    pub sessions: Arc<dyn SessionStore>,
}

/// One bot's gateway, running.
pub struct RunningGateway {
    bot: String,
    shards: Vec<Arc<ShardStatus>>,
    progress: Arc<Progress>,
    queue: IdentifyQueue,
    stop: watch::Sender<bool>,
    saver_stop: watch::Sender<bool>,
    runners: Vec<JoinHandle<Result<(), String>>>,
    publishers: Vec<JoinHandle<()>>,
    saver: Option<JoinHandle<()>>,
    outbound: Option<JoinHandle<()>>,
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

/// Starts one bot's gateway.
pub async fn start(
    config: GatewayConfig,
    deps: GatewayDeps,
) -> Result<RunningGateway, GatewayError> {
    let config = Arc::new(config.effective());
    if config.token.is_empty() {
        return Err(GatewayError::Config(
            "no bot token: set DISCORD_TOKEN or gateway.token".into(),
        ));
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
        return Err(GatewayError::Config(
            "gateway.shards must be at least 1".into(),
        ));
    }
    let (first, last) = match config.shard_range {
        Some(r) if r.first > r.last || r.last >= total => {
            return Err(GatewayError::Config(format!(
                "gateway.shard_range [{}, {}] is not within 0..{total}",
                r.first, r.last
            )));
        }
        Some(r) => (r.first, r.last),
        None => (0, total - 1),
    };
    let ids: Vec<u32> = (first..=last).collect();
    tracing::info!(bot = %config.bot, gateway = %url, total, first, last, max_concurrency = info.limit.max_concurrency,
        identifies_remaining = info.limit.remaining, "starting shards");
    let outbound_sub = if config.outbound.enabled {
        let pattern = Pattern::new(&config.outbound.pattern)
            .map_err(|e| GatewayError::Config(format!("gateway.outbound.pattern: {e}")))?;
        let sub = deps.broker.subscribe(&pattern).await?;
        Some((pattern, sub))
    } else {
        None
    };
    let queue = IdentifyQueue::new(info.limit, config.identify_window);
    let router = Arc::new(Router::new(&config));
    let progress = Arc::new(Progress {
        ready: AtomicU32::new(0),
        total: ids.len() as u32,
    });
    let (stop, stop_rx) = watch::channel(false);
    let (saver_stop, saver_stop_rx) = watch::channel(false);
    let mut shards = Vec::new();
    let mut runners = Vec::new();
    let mut publishers = Vec::new();
    for id in ids {
        let status = Arc::new(ShardStatus::new(id, total));
        let saved = deps
            .sessions
            .load(&session_key(&config.bot, id, total))
            .await?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        publishers.push(tokio::spawn(crate::publish::run_publisher(
            rx,
            deps.broker.clone(),
            status.clone(),
        )));
        let task = ShardTask {
            id,
            total,
            config: config.clone(),
            router: router.clone(),
            queue: queue.clone(),
            gateway_url: url.clone(),
            saved,
            status: status.clone(),
            progress: progress.clone(),
            stop: stop_rx.clone(),
            tx,
        };
        runners.push(tokio::spawn(crate::shard::run(task)));
        shards.push(status);
    }
    let saver = tokio::spawn(run_saver(
        deps.sessions.clone(),
        config.bot.clone(),
        shards.clone(),
        config.session_save_interval,
        saver_stop_rx,
    ));
    let outbound = outbound_sub.map(|(pattern, sub)| {
        let out = Outbound {
            broker: deps.broker.clone(),
            rest: deps.rest.clone(),
            token: config.token.clone(),
            config: Arc::new(config.outbound.clone()),
        };
        tokio::spawn(outbound::run(out, pattern, sub, stop_rx.clone()))
    });
    Ok(RunningGateway {
        bot: config.bot.clone(),
        shards,
        progress,
        queue,
        stop,
        saver_stop,
        runners,
        publishers,
        saver: Some(saver),
        outbound,
    })
}

impl RunningGateway {
    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Each shard's live state.
    pub fn shards(&self) -> &[Arc<ShardStatus>] {
        &self.shards
    }

    /// A closure producing the status, for an admin listener.
    pub fn status_fn(&self) -> impl Fn() -> GatewayStatus + Send + Sync + 'static {
        let bot = self.bot.clone();
        let shards = self.shards.clone();
        let progress = self.progress.clone();
        let queue = self.queue.clone();
        move || status_of(&bot, &shards, &progress, &queue)
    }

    /// The current status.
    pub fn status(&self) -> GatewayStatus {
        status_of(&self.bot, &self.shards, &self.progress, &self.queue)
    }

    /// Waits until every shard has been ready once; false on timeout.
    pub async fn wait_ready(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            while self.progress.ready.load(Ordering::Relaxed) < self.progress.total {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .is_ok()
    }

    /// Resolves when every shard has stopped by itself (fatal closes); returns their errors.
    pub async fn stopped(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for runner in &mut self.runners {
            match runner.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => errors.push(e),
                Err(e) => errors.push(format!("shard task failed: {e}")),
            }
        }
        self.runners.clear();
        errors
    }

    /// Stops every task at once, as a crash would: no close frame, no drain, no final session
    /// save. What was saved before stays, so a restart RESUMEs from it.
    pub fn abort(mut self) {
        for runner in self.runners.drain(..) {
            runner.abort();
        }
        for publisher in self.publishers.drain(..) {
            publisher.abort();
        }
        if let Some(saver) = self.saver.take() {
            saver.abort();
        }
        if let Some(outbound) = self.outbound.take() {
            outbound.abort();
        }
    }

    /// Stops every shard (closing resumably, so that a restart RESUMEs), drains the queues
    /// into the broker, saves the sessions and stops the outbound path.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        for runner in self.runners.drain(..) {
            let _ = runner.await;
        }
        for publisher in self.publishers.drain(..) {
            let _ = publisher.await;
        }
        self.saver_stop.send_replace(true);
        if let Some(saver) = self.saver.take() {
            let _ = saver.await;
        }
        if let Some(outbound) = self.outbound.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), outbound).await;
        }
    }
}

fn status_of(
    bot: &str,
    shards: &[Arc<ShardStatus>],
    progress: &Progress,
    queue: &IdentifyQueue,
) -> GatewayStatus {
    GatewayStatus {
        bot: bot.to_owned(),
        ready: progress.ready.load(Ordering::Relaxed),
        total: progress.total,
        identifies_remaining: queue.remaining(),
        identify_limit_resets_in_s: queue.exhausted_until().map(|t| {
            t.duration_since(std::time::SystemTime::now())
                .map_or(0, |d| d.as_secs())
        }),
        shards: shards.iter().map(|s| s.snapshot()).collect(),
    }
}
