//! The listener: [`RespConfig`], binding (loopback unless a password is set), the accept
//! loop, and shutdown.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::conn;
use crate::embedded::{EmbeddedBroker, Hub};

/// The RESP port's default, beside Redis's 6379 so that both can run.
pub const DEFAULT_RESP_PORT: u16 = 7379;

/// Settings of the RESP listener.
#[derive(Clone, PartialEq, Eq)]
pub struct RespConfig {
    /// Where to listen; `127.0.0.1:7379` by default. Port 0 picks a free port. Any address
    /// that is not loopback requires [`password`](Self::password).
    pub bind: SocketAddr,
    /// When set, clients must `AUTH` (or `HELLO ... AUTH`) before anything else.
    pub password: Option<String>,
    /// The largest request accepted, in bytes: any one argument and the sum of a request's
    /// arguments. Larger length headers are refused before their bytes are read, with Redis's
    /// `Protocol error: invalid bulk length`, and the connection is closed.
    pub max_request_size: usize,
    /// Messages buffered per client before deliveries to it are dropped (and counted).
    pub client_buffer: usize,
}

impl std::fmt::Debug for RespConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespConfig")
            .field("bind", &self.bind)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("max_request_size", &self.max_request_size)
            .field("client_buffer", &self.client_buffer)
            .finish()
    }
}

impl Default for RespConfig {
    fn default() -> Self {
        RespConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_RESP_PORT)),
            password: None,
            max_request_size: 16 * 1024 * 1024,
            client_buffer: 4096,
        }
    }
}

impl RespConfig {
    /// The default configuration on `127.0.0.1:port`.
    pub fn on_port(port: u16) -> Self {
        RespConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ..RespConfig::default()
        }
    }
}

/// Why the RESP listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// A non-loopback address without a password.
    #[error(
        "refusing to bind the RESP listener to {0}, which is not a loopback address, without a password: set one (clients then AUTH) or bind 127.0.0.1"
    )]
    PasswordRequired(SocketAddr),
    /// An empty password was configured.
    #[error("the RESP listener's password is empty; set a non-empty password or none")]
    EmptyPassword,
    /// A limit set to zero.
    #[error("the RESP listener's {0} must be at least 1")]
    ZeroLimit(&'static str),
    /// The address could not be bound.
    #[error("cannot bind the RESP listener to {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) config: RespConfig,
    pub(crate) local_addr: SocketAddr,
}

/// A bound RESP listener. Run it with [`serve`](Self::serve) (or [`spawn`](Self::spawn)) and
/// stop it with a [`RespShutdown`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use switchyard_broker::embedded::{EmbeddedBroker, resp::{RespConfig, RespServer}};
/// let broker = EmbeddedBroker::new(Default::default());
/// let server = RespServer::bind(&broker, RespConfig::on_port(7379)).await?;
/// println!("RESP on {}", server.local_addr());
/// let running = server.spawn();
/// // ... later:
/// running.shutdown().await;
/// # Ok(()) }
/// ```
pub struct RespServer {
    listener: TcpListener,
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
}

impl std::fmt::Debug for RespServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespServer")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Stops a [`RespServer`]: it stops accepting, closes every connection (dropping their
/// subscriptions) and its `serve` future returns. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RespShutdown(Arc<watch::Sender<bool>>);

impl RespShutdown {
    /// Asks the server to stop; returns at once.
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

impl RespServer {
    /// Validates `config` and binds its address. Refuses a non-loopback address unless a
    /// password is set.
    pub async fn bind(broker: &EmbeddedBroker, config: RespConfig) -> Result<Self, RespError> {
        match &config.password {
            Some(p) if p.is_empty() => return Err(RespError::EmptyPassword),
            None if !config.bind.ip().is_loopback() => {
                return Err(RespError::PasswordRequired(config.bind));
            }
            _ => {}
        }
        if config.max_request_size == 0 {
            return Err(RespError::ZeroLimit("max_request_size"));
        }
        if config.client_buffer == 0 {
            return Err(RespError::ZeroLimit("client_buffer"));
        }
        let bind_error = |source| RespError::Bind {
            addr: config.bind,
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        let (shutdown, _) = watch::channel(false);
        tracing::info!(%local_addr, auth = config.password.is_some(), "RESP listener bound");
        Ok(RespServer {
            listener,
            local_addr,
            shared: Arc::new(Shared {
                hub: Arc::clone(broker.hub()),
                config,
                local_addr,
            }),
            shutdown,
        })
    }

    /// The address it listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops [`serve`](Self::serve).
    pub fn shutdown_handle(&self) -> RespShutdown {
        RespShutdown(Arc::new(self.shutdown.clone()))
    }

    /// Accepts and serves clients until shut down; then closes every connection and returns.
    pub async fn serve(self) {
        let RespServer {
            listener,
            local_addr,
            shared,
            shutdown,
        } = self;
        let mut stop = shutdown.subscribe();
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let shared = Arc::clone(&shared);
                        let stop = shutdown.subscribe();
                        connections.spawn(conn::run(shared, stream, peer, stop));
                    }
                    Err(error) => {
                        // Out of descriptors and the like: wait a little instead of spinning.
                        tracing::warn!(%error, "RESP listener cannot accept");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        while connections.join_next().await.is_some() {}
        tracing::info!(%local_addr, "RESP listener stopped");
    }

    /// Runs [`serve`](Self::serve) on a new task.
    pub fn spawn(self) -> RunningRespServer {
        let local_addr = self.local_addr;
        let stop = self.shutdown_handle();
        RunningRespServer {
            local_addr,
            stop,
            task: tokio::spawn(self.serve()),
        }
    }
}

/// A [`RespServer`] running on its own task.
#[derive(Debug)]
pub struct RunningRespServer {
    local_addr: SocketAddr,
    stop: RespShutdown,
    task: JoinHandle<()>,
}

impl RunningRespServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops it.
    pub fn shutdown_handle(&self) -> RespShutdown {
        self.stop.clone()
    }

    /// Stops it and waits until every connection is closed.
    pub async fn shutdown(self) {
        self.stop.shutdown();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "RESP listener task failed");
        }
    }
}
