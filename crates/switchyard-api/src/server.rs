//! [`serve`]: the gRPC listener, its services and its shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use switchyard_gateway::{BotRest, CacheView, RunningControl};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::auth::TokenCheck;
use crate::cache::CacheService;
use crate::control::ControlService;
pub use crate::control::StatusFn;
use crate::proto::{
    cache_server::CacheServer, control_server::ControlServer, rest_server::RestServer,
};
use crate::rest::RestService;

/// What the services answer from.
pub struct GrpcParts {
    /// Each bot's status, in configuration order.
    pub bots: Vec<StatusFn>,
    /// Each bot's caches on this node, in configuration order.
    pub caches: Vec<CacheView>,
    /// The live services, when service control runs in this process.
    pub control: Option<Arc<RunningControl>>,
    /// Each bot's REST calls, in configuration order.
    pub rest: Vec<BotRest>,
}

/// Why the listener did not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen for gRPC on {bind}: {source}")]
    Bind {
        /// The address.
        bind: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A listener beyond loopback without a token.
    #[error(
        "grpc.bind = {0} is not a loopback address; set grpc.token (or SWITCHYARD_GRPC_TOKEN) so that calls must carry it"
    )]
    Unprotected(SocketAddr),
    /// Server reflection could not read the protos' descriptors.
    #[error("cannot set up gRPC server reflection: {0}")]
    Reflection(String),
}

/// The running listener.
pub struct GrpcServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl GrpcServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting calls, lets those in progress finish, and returns.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

/// Binds `bind` and serves the Control, Cache and Rest services and server reflection there,
/// every call checked for `token` when one is given. A non-loopback `bind` needs a token.
pub async fn serve(
    bind: SocketAddr,
    token: Option<&str>,
    parts: GrpcParts,
) -> Result<GrpcServer, ServeError> {
    if !bind.ip().is_loopback() && token.is_none() {
        return Err(ServeError::Unprotected(bind));
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|source| ServeError::Bind { bind, source })?;
    let addr = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { bind, source })?;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let check = TokenCheck::new(token);
    let control = ControlServer::with_interceptor(
        ControlService {
            bots: parts.bots,
            control: parts.control,
        },
        check.clone(),
    );
    let cache = CacheServer::with_interceptor(CacheService::new(parts.caches), check.clone());
    let rest = RestServer::with_interceptor(RestService::new(parts.rest), check.clone());
    // Reflection too: behind the token, the listener names nothing to a stranger.
    let reflection = InterceptedService::new(reflection, check);
    let (stop, mut stopped) = watch::channel(false);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let router = Server::builder()
        .add_service(control)
        .add_service(cache)
        .add_service(rest)
        .add_service(reflection);
    let task = tokio::spawn(async move {
        let signal = async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        if let Err(e) = router.serve_with_incoming_shutdown(incoming, signal).await {
            tracing::error!(error = %e, "the gRPC listener stopped");
        }
    });
    tracing::info!(%addr, "gRPC listener up (Control, Cache, Rest, reflection)");
    Ok(GrpcServer { addr, stop, task })
}
