//! Discord's HTTP interactions endpoint: Discord POSTs each interaction to a URL instead of
//! sending INTERACTION_CREATE over the gateway. The endpoint checks the ed25519 signature
//! (`verify`), answers PING, publishes each interaction on the bot's topics as the gateway
//! would, and answers with the bot's callback when it comes in time, else with a deferral
//! (`endpoint`). The table of open interactions (`table`) has one owner, shared with the
//! outbound path, which asks it before sending a callback to REST.

mod endpoint;
mod table;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) use table::{Claim, OpenInteractions};
pub use verify::{BadPublicKey, PublicKey};

/// The `[interactions]` settings of the endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InteractionsConfig {
    /// Where the endpoint listens. Loopback by default; any other address needs
    /// `public_key`. Discord needs HTTPS: put a reverse proxy in front (docs/interactions.md).
    pub bind: SocketAddr,
    /// The application's public key from Discord's developer portal (64 hex digits).
    /// Without it (loopback only) signatures are not checked.
    pub public_key: Option<PublicKey>,
    /// The path Discord posts to.
    pub path: String,
    /// The furthest a request's `X-Signature-Timestamp` may lie from now, in seconds.
    pub max_age_s: u64,
    /// How long the endpoint waits for the bot's callback before it answers with a deferral,
    /// in milliseconds; Discord wants the answer within 3 s of sending.
    pub answer_within_ms: u64,
}

impl Default for InteractionsConfig {
    fn default() -> Self {
        InteractionsConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 7390)),
            public_key: None,
            path: "/interactions".into(),
            max_age_s: 300,
            answer_within_ms: 2500,
        }
    }
}

/// A setting the endpoint cannot work with, or why it cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InteractionsError {
    /// A non-loopback address without a public key.
    #[error(
        "interactions.bind = {0} is not a loopback address; set interactions.public_key (or SWITCHYARD_INTERACTIONS_PUBLIC_KEY), the application's public key, so that only Discord's signed requests are served"
    )]
    KeyRequired(SocketAddr),
    /// A path that is not absolute.
    #[error("interactions.path = {0:?} must start with /")]
    Path(String),
    /// A wait Discord would not allow.
    #[error(
        "interactions.answer_within_ms = {0} must be between 1 and 2900: Discord wants the answer within 3 s"
    )]
    AnswerWithin(u64),
    /// The bot's event filter drops INTERACTION_CREATE.
    #[error(
        "bot {0} does not publish INTERACTION_CREATE (gateway.events / drop_events / profile); the endpoint would have nowhere to send interactions"
    )]
    Filtered(String),
    /// The address cannot be bound.
    #[error("cannot listen on interactions.bind = {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl InteractionsConfig {
    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), InteractionsError> {
        if !self.bind.ip().is_loopback() && self.public_key.is_none() {
            return Err(InteractionsError::KeyRequired(self.bind));
        }
        if !self.path.starts_with('/') {
            return Err(InteractionsError::Path(self.path.clone()));
        }
        if !(1..=2900).contains(&self.answer_within_ms) {
            return Err(InteractionsError::AnswerWithin(self.answer_within_ms));
        }
        Ok(())
    }
}

/// The endpoint, serving.
pub struct RunningInteractions {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RunningInteractions {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving; open requests get a second to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(1), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

/// Starts the endpoint for one bot (called by [`crate::RunningGateway::serve_interactions`]).
pub(crate) async fn serve(
    config: &InteractionsConfig,
    table: Arc<OpenInteractions>,
    bot: &crate::shards::ShardCtx,
) -> Result<RunningInteractions, InteractionsError> {
    config.validate()?;
    if !bot.config.publishes("INTERACTION_CREATE") {
        return Err(InteractionsError::Filtered(bot.config.bot.clone()));
    }
    if !bot.config.outbound {
        tracing::warn!(bot = %bot.config.bot, "the bot's outbound path is off: every HTTP interaction is deferred");
    }
    let bind = |source| InteractionsError::Bind {
        addr: config.bind,
        source,
    };
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    if config.public_key.is_none() {
        tracing::warn!(%addr, "interactions.public_key is not set: signatures are not checked (loopback only)");
    }
    let state = Arc::new(endpoint::Endpoint {
        key: config.public_key.clone(),
        max_age: Duration::from_secs(config.max_age_s),
        answer_within: Duration::from_millis(config.answer_within_ms),
        table,
        router: bot.router.clone(),
        broker: bot.broker.clone(),
        shards: bot.total,
    });
    let app = axum::Router::new()
        .route(&config.path, axum::routing::post(endpoint::handle))
        .with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async {
            let _ = stopped.await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::error!(error = %e, "the interactions endpoint stopped");
        }
    });
    tracing::info!(%addr, path = %config.path, "interactions endpoint listening");
    Ok(RunningInteractions {
        addr,
        stop: Some(stop),
        task,
    })
}
