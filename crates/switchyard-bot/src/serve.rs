//! [`serve`]: connect to the broker once and run several bots side by side, each with its
//! own subscriptions. A bot that fails (a bad pattern, a refused IDENTIFY, a group the
//! broker cannot offer) is reported and the others keep running; REBOOT restarts one bot;
//! SHUTDOWN stops one; SIGTERM, Ctrl-C or a [`Shutdown`] handle stop them all, letting
//! running handlers finish.

use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::{Broker, BrokerOptions};
use switchyard_core::control::auth::ControlKey;
use tokio::sync::watch;

use crate::bot::{Bot, check_name, instance_name};
use crate::error::{BotFailure, BotStartError, ServeError};
use crate::runner::{self, AbortOnDrop, Exit, RunDeps};

/// Stops a running [`serve`] from elsewhere (tests, an admin endpoint).
///
/// ```
/// let stop = switchyard_bot::Shutdown::new();
/// assert!(!stop.is_triggered());
/// stop.trigger();
/// assert!(stop.is_triggered());
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A handle not yet triggered.
    pub fn new() -> Self {
        Shutdown {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Asks every bot to stop after its running handlers.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Whether [`Shutdown::trigger`] was called.
    pub fn is_triggered(&self) -> bool {
        *self.tx.borrow()
    }

    fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }
}

#[derive(Clone)]
enum BrokerSource {
    Url(String, BrokerOptions),
    Given(Arc<dyn Broker>),
}

/// How [`serve`] connects and stops.
///
/// ```
/// use std::time::Duration;
/// use switchyard_bot::ServeOptions;
/// let opts = ServeOptions::url("redis://127.0.0.1:6379?durable=streams")
///     .key("shared-secret")
///     .drain_timeout(Duration::from_secs(5));
/// assert_eq!(opts.broker_url(), Some("redis://127.0.0.1:6379?durable=streams"));
/// ```
#[derive(Clone)]
pub struct ServeOptions {
    broker: BrokerSource,
    key: String,
    signals: bool,
    shutdown: Shutdown,
    drain: Duration,
    heartbeat: Duration,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field(
                "broker",
                &self.broker_url().map(switchyard_broker::redact_url),
            )
            .field("signals", &self.signals)
            .field("drain", &self.drain)
            .finish_non_exhaustive()
    }
}

impl ServeOptions {
    fn with(broker: BrokerSource) -> Self {
        ServeOptions {
            broker,
            key: String::new(),
            signals: true,
            shutdown: Shutdown::new(),
            drain: Duration::from_secs(10),
            heartbeat: Duration::from_secs(10),
        }
    }

    /// Connect to the broker at `url`: `embedded`, `redis://…` (also the embedded broker's
    /// RESP port), `redis://…?durable=streams`, `nats://…`, `nats://…?durable=jetstream`.
    pub fn url(url: impl Into<String>) -> Self {
        Self::with(BrokerSource::Url(url.into(), BrokerOptions::default()))
    }

    /// Use a broker already connected (for example the embedded broker of an in-process
    /// gateway).
    pub fn broker(broker: Arc<dyn Broker>) -> Self {
        Self::with(BrokerSource::Given(broker))
    }

    /// From the environment: `SWITCHYARD_BROKER` (default `redis://127.0.0.1:6379`) and
    /// `SWITCHYARD_CONTROL_KEY` (the control key, default none; `SWITCHYARD_KEY` is read when
    /// it is not set).
    pub fn from_env() -> Self {
        let url =
            std::env::var("SWITCHYARD_BROKER").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let key = std::env::var("SWITCHYARD_CONTROL_KEY")
            .or_else(|_| std::env::var("SWITCHYARD_KEY"))
            .unwrap_or_default();
        Self::url(url).key(key)
    }

    /// Limits and retries for a broker given by URL.
    pub fn broker_options(mut self, options: BrokerOptions) -> Self {
        if let BrokerSource::Url(url, _) = self.broker {
            self.broker = BrokerSource::Url(url, options);
        }
        self
    }

    /// The control key (the gateway's `control.key`): it signs IDENTIFY, and the bot obeys
    /// only control messages signed with it. Empty (the default): nothing is signed or
    /// checked. The key itself is never sent.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = key.into();
        self
    }

    /// Whether SIGTERM and Ctrl-C stop the bots (default: yes).
    pub fn signals(mut self, yes: bool) -> Self {
        self.signals = yes;
        self
    }

    /// Stop when `shutdown` is triggered.
    pub fn shutdown(mut self, shutdown: &Shutdown) -> Self {
        self.shutdown = shutdown.clone();
        self
    }

    /// How long running handlers may take to finish when stopping (default 10 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain = timeout;
        self
    }

    /// How often each bot repeats IDENTIFY, which keeps it in the gateway's registry of live
    /// services (default: 10 s; the gateway forgets a service after 30 s of silence).
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self
    }

    /// The broker URL, when given as one.
    pub fn broker_url(&self) -> Option<&str> {
        match &self.broker {
            BrokerSource::Url(u, _) => Some(u),
            BrokerSource::Given(_) => None,
        }
    }
}

/// Runs `bots` until they all stop: by SHUTDOWN, by SIGTERM/Ctrl-C (when
/// [`ServeOptions::signals`] is on), by a [`Shutdown`] handle, or by failing. Each bot has its
/// own subscriptions; one failing does not stop the others. Returns an error listing the bots
/// that failed, once all have stopped.
///
/// ```no_run
/// use switchyard_bot::{Bot, ServeOptions, serve};
/// # async fn run(a: Bot, b: Bot) -> Result<(), switchyard_bot::ServeError> {
/// serve([a, b], ServeOptions::from_env()).await
/// # }
/// ```
pub async fn serve(
    bots: impl IntoIterator<Item = Bot>,
    options: ServeOptions,
) -> Result<(), ServeError> {
    let bots: Vec<Bot> = bots.into_iter().collect();
    if bots.is_empty() {
        return Err(ServeError::Config("serve needs at least one bot".into()));
    }
    for (i, a) in bots.iter().enumerate() {
        if bots[..i].iter().any(|b| b.name == a.name) {
            return Err(ServeError::Config(format!(
                "two bots are named {:?}; control topics need distinct names",
                a.name
            )));
        }
    }
    let broker = match &options.broker {
        BrokerSource::Given(b) => b.clone(),
        BrokerSource::Url(url, opts) => switchyard_broker::connect(url, opts)
            .await
            .map_err(ServeError::Connect)?,
    };
    let stop = options.shutdown.subscribe();
    let _signals = options.signals.then(|| {
        let handle = options.shutdown.clone();
        AbortOnDrop(tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received: stopping the bots after their running handlers");
            handle.trigger();
        }))
    });
    let tasks: Vec<_> = bots
        .into_iter()
        .map(|bot| {
            let deps = RunDeps {
                broker: broker.clone(),
                key: (!options.key.is_empty()).then(|| ControlKey::new(options.key.as_bytes())),
                instance: bot
                    .instance
                    .clone()
                    .unwrap_or_else(|| instance_name(&bot.name)),
                stop: stop.clone(),
                drain: options.drain,
                heartbeat: options.heartbeat,
            };
            let name = bot.name.clone();
            (name, tokio::spawn(supervise(bot, deps)))
        })
        .collect();
    let mut failures = Vec::new();
    for (bot, task) in tasks {
        let error = match task.await {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(e) => BotStartError::Config(format!("the bot's task failed: {e}")),
        };
        failures.push(BotFailure { bot, error });
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(ServeError::Bots(failures))
    }
}

/// Runs one bot, again after each REBOOT.
async fn supervise(bot: Bot, mut deps: RunDeps) -> Result<(), BotStartError> {
    if let Some(i) = &bot.instance {
        check_name("instance name", i).map_err(BotStartError::Config)?;
    }
    loop {
        match runner::run(&bot, &mut deps).await {
            Ok(Exit::Reboot) => {
                tracing::info!(bot = %bot.name, "rebooting");
                continue;
            }
            Ok(Exit::Shutdown | Exit::Stopped) => {
                tracing::info!(bot = %bot.name, "stopped");
                return Ok(());
            }
            Err(e) => {
                tracing::error!(bot = %bot.name, error = %e, "bot failed; the other bots keep running");
                return Err(e);
            }
        }
    }
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = ctrl_c() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the bots");
            ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    ctrl_c().await;
}

/// Ctrl-C; never, if it cannot be listened for.
async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!(error = %e, "cannot listen for Ctrl-C");
        std::future::pending::<()>().await;
    }
}
