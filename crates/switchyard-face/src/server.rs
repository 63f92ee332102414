//! [`serve`]: the face on one listener (the WebSocket on every path but the REST API's), the
//! broker feed, the reply topics of clients' commands, and the sweeper of expired sessions.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use axum::extract::OriginalUri;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use switchyard_broker::{Broker, BrokerError};
use switchyard_core::Pattern;
use switchyard_core::gateway_proto::close::CloseReason;
use switchyard_core::gateway_proto::frame::MAX_CLIENT_FRAME;
use switchyard_core::gateway_proto::query::parse_query;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::commands::Commands;
use crate::hub::Hub;
use crate::options::FaceOptions;
use crate::rest::{RestUpstream, SessionStarts};
use crate::session::Limits;
use crate::shared::Shared;
use crate::source::StateSource;

/// What the face stands on.
pub struct FaceDeps {
    /// The bot's configured name (the envelopes' `bot`).
    pub bot: String,
    /// The broker the gateway publishes the bot's events on.
    pub broker: Arc<dyn Broker>,
    /// The bot's identity and caches.
    pub source: Arc<dyn StateSource>,
    /// Where REST calls go; `None` answers only the face's own routes.
    pub rest: Option<RestUpstream>,
    /// The pattern of the bot's inbound topics (`inbound.discord.>` by default).
    pub inbound: Pattern,
    /// The reply namespace the gateway accepts (`inbound.rest` by default).
    pub reply_prefix: String,
}

/// Why the face cannot start.
#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    /// A subscription the face needs was refused.
    #[error("face: cannot subscribe to {what}: {source}")]
    Subscribe {
        /// Which.
        what: String,
        /// The broker's error.
        source: BrokerError,
    },
    /// A pattern that is not one.
    #[error("face: {pattern:?} is not a topic pattern: {error}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// Why.
        error: String,
    },
    /// The listener's address cannot be read.
    #[error("face: listener: {0}")]
    Listener(std::io::Error),
}

/// What a status page shows of the face.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FaceStatus {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// Sessions held (connected, or waiting for a RESUME).
    pub sessions: usize,
    /// Sessions with a connected client.
    pub connected: usize,
}

/// The face, serving.
pub struct RunningFace {
    addr: std::net::SocketAddr,
    shutdown: watch::Sender<bool>,
    hub: Arc<Hub>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningFace {
    /// Where it listens.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// How many sessions it holds (connected or waiting for a RESUME).
    pub fn sessions(&self) -> usize {
        self.hub.len()
    }

    /// A reading of the face for a status page, cheap to call from anywhere.
    pub fn status_fn(&self) -> impl Fn() -> FaceStatus + Send + Sync + 'static {
        let (hub, addr) = (self.hub.clone(), self.addr);
        move || FaceStatus {
            addr,
            sessions: hub.len(),
            connected: hub.connected(),
        }
    }

    /// Tells every client to reconnect and stops. The upstream shards are not touched.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.tasks.first_mut() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Drop for RunningFace {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Serves the face on `listener`.
pub async fn serve(
    listener: TcpListener,
    options: FaceOptions,
    deps: FaceDeps,
) -> Result<RunningFace, FaceError> {
    let addr = listener.local_addr().map_err(FaceError::Listener)?;
    let instance = u64::from(std::process::id()) << 32 ^ switchyard_now_nanos();
    let reply_base = format!("{}.face.{instance:x}", deps.reply_prefix);
    let commands = Arc::new(Commands::new(
        deps.broker.clone(),
        deps.source.clone(),
        reply_base,
    ));
    let subscribe = |pattern: String| {
        let broker = deps.broker.clone();
        async move {
            let p = Pattern::new(&pattern).map_err(|e| FaceError::Pattern {
                pattern: pattern.clone(),
                error: e.to_string(),
            })?;
            broker
                .subscribe(&p)
                .await
                .map_err(|source| FaceError::Subscribe {
                    what: pattern,
                    source,
                })
        }
    };
    let inbound = subscribe(deps.inbound.to_string()).await?;
    let mut replies = subscribe(commands.reply_pattern()).await?;
    let mut rebuilds = subscribe(crate::upstream::REBUILD_TOPIC.to_owned()).await?;
    let (tx, rx) = watch::channel(false);
    let options = Arc::new(options);
    let hub = Arc::new(Hub::default());
    let shared = Arc::new(Shared {
        limits: Limits {
            replay_events: options.replay_events.max(options.client_queue * 2),
            replay_window: options.replay_window,
            client_queue: options.client_queue,
        },
        options: options.clone(),
        source: deps.source.clone(),
        hub: hub.clone(),
        commands: commands.clone(),
        shutdown: rx.clone(),
        session_starts: SessionStarts::new(
            SessionStarts::DEFAULT_TOTAL,
            SessionStarts::DEFAULT_PERIOD,
        ),
        warned_tokens: std::sync::atomic::AtomicBool::new(false),
        conn_ids: AtomicU64::new(1),
        session_ids: AtomicU64::new(1),
        instance,
    });
    let rest = crate::rest::rest_router(
        options,
        deps.source,
        deps.rest.map(Arc::new),
        shared.session_starts.clone(),
    );
    let app = {
        let shared = shared.clone();
        rest.fallback(move |uri: OriginalUri, ws: WebSocketUpgrade| {
            gateway(shared.clone(), uri, ws)
        })
    };
    // Without TCP_NODELAY an event written while the previous one is unacknowledged waits
    // for the client's delayed ACK (up to 40 ms): Discord's edge writes each frame at once.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "face: cannot set TCP_NODELAY");
        }
    });
    let mut down = rx.clone();
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = down.wait_for(|d| *d).await;
            // connections close themselves on the same signal; give them a moment
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(%error, "face: the listener failed");
        }
    });
    let trouble = {
        let (bot, hub, source) = (deps.bot.clone(), hub.clone(), shared.source.clone());
        tokio::spawn(async move {
            while let Some(msg) = rebuilds.recv().await {
                crate::upstream::rebuild(&msg.payload, &bot, &hub, &source).await;
            }
        })
    };
    let feed = tokio::spawn(crate::feed::run(inbound, deps.bot, hub.clone()));
    let answers = {
        let commands = commands.clone();
        tokio::spawn(async move {
            while let Some(msg) = replies.recv().await {
                commands.answer(msg.topic.as_str(), &msg.payload);
            }
        })
    };
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            let now = Instant::now();
            hub.sweep(now);
            commands.sweep(now);
        }
    });
    tracing::info!(%addr, "face: serving Discord's gateway and REST API");
    Ok(RunningFace {
        addr,
        shutdown: tx,
        hub: shared.hub.clone(),
        tasks: vec![server, feed, answers, trouble, sweeper],
    })
}

fn switchyard_now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A WebSocket upgrade on any path the REST API does not take.
async fn gateway(
    shared: Arc<Shared>,
    OriginalUri(uri): OriginalUri,
    ws: WebSocketUpgrade,
) -> Response {
    let params = parse_query(uri.query()).and_then(|p| {
        // the face speaks v10 only
        match uri
            .query()
            .unwrap_or("")
            .split('&')
            .find_map(|kv| kv.strip_prefix("v="))
        {
            Some("10") | None => Ok(p),
            Some(_) => Err(CloseReason::INVALID_VERSION),
        }
    });
    // frames over Discord's limit are read whole so that they get 4002, not a dropped socket
    ws.max_message_size(MAX_CLIENT_FRAME * 16)
        .max_frame_size(MAX_CLIENT_FRAME * 16)
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| crate::conn::run(shared, socket, params))
}
