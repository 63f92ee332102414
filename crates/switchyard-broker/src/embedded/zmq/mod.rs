//! The embedded broker's ZeroMQ endpoints, beside RESP: a PUB endpoint that SUB sockets
//! connect to and subscribe by topic prefix, and a PULL endpoint that PUSH sockets publish
//! through. Every message is two frames, `[topic, payload]`, so a component written with
//! pyzmq, ZMQ.jl or any ZeroMQ binding needs no Switchyard code.
//!
//! Publishers use PUSH→PULL rather than PUB→SUB because a PUB socket drops what it sends
//! before the connection is up: every new publisher would lose its first messages.
//!
//! The endpoints speak ZMTP 3.0 with the NULL mechanism, which authenticates nobody; there is
//! no CURVE here, so binding anything but a loopback address is refused
//! ([`ZmqError::LoopbackOnly`]). Each SUB connection has a bounded queue (its high-water
//! mark); when it is full, messages for that connection are dropped, counted in
//! `switchyard_zmq_dropped_total` and `switchyard_broker_dropped_total`, and logged, as for
//! slow RESP clients. Malformed messages on PULL (not two frames, a topic that is not a
//! topic, a payload over the limit) are dropped and counted in
//! `switchyard_zmq_refused_total{reason}`; a connection that breaks the protocol is closed
//! and counted the same way. Nothing else is affected.

mod publisher;
mod puller;
pub(crate) mod side;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::embedded::{EmbeddedBroker, Hub};

/// The PUB endpoint's default port.
pub const DEFAULT_ZMQ_PUB_PORT: u16 = 7381;
/// The PULL endpoint's default port.
pub const DEFAULT_ZMQ_PULL_PORT: u16 = 7382;

/// Settings of the ZeroMQ endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZmqConfig {
    /// Where SUB sockets connect; `127.0.0.1:7381` by default. Port 0 picks a free port.
    pub pub_bind: SocketAddr,
    /// Where PUSH sockets connect; `127.0.0.1:7382` by default.
    pub pull_bind: SocketAddr,
    /// Messages queued per SUB connection before messages for it are dropped (its
    /// high-water mark).
    pub client_buffer: usize,
}

impl Default for ZmqConfig {
    fn default() -> Self {
        ZmqConfig::on_ports(DEFAULT_ZMQ_PUB_PORT, DEFAULT_ZMQ_PULL_PORT)
    }
}

impl ZmqConfig {
    /// Both endpoints on 127.0.0.1.
    pub fn on_ports(pub_port: u16, pull_port: u16) -> Self {
        ZmqConfig {
            pub_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, pub_port)),
            pull_bind: SocketAddr::from((Ipv4Addr::LOCALHOST, pull_port)),
            client_buffer: 4096,
        }
    }
}

/// Why the ZeroMQ endpoints could not start.
#[derive(Debug, thiserror::Error)]
pub enum ZmqError {
    /// A non-loopback address: ZeroMQ's NULL security lets anyone who reaches the port in.
    #[error(
        "refusing to bind a ZeroMQ endpoint to {0}, which is not a loopback address: ZeroMQ's NULL security authenticates nobody and this build has no CURVE; bind 127.0.0.1 (and reach it from elsewhere through an SSH tunnel or a VPN)"
    )]
    LoopbackOnly(SocketAddr),
    /// The per-connection queue set to zero.
    #[error("the ZeroMQ endpoints' client_buffer must be at least 1")]
    ZeroBuffer,
    /// An address could not be bound.
    #[error("cannot bind the ZeroMQ {endpoint} endpoint to {addr}: {source}")]
    Bind {
        /// `PUB` or `PULL`.
        endpoint: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) hub: Arc<Hub>,
    pub(crate) config: ZmqConfig,
    /// SUB connections ids.
    next_client: AtomicU64,
}

impl Shared {
    pub(crate) fn next_client(&self) -> u64 {
        self.next_client.fetch_add(1, Ordering::Relaxed)
    }
}

/// Counts a refusal in `switchyard_zmq_refused_total{reason}`.
pub(crate) fn count_refused(reason: &'static str) {
    metrics::counter!("switchyard_zmq_refused_total", "reason" => reason).increment(1);
}

/// The bound endpoints. Start them with [`spawn`](Self::spawn).
#[derive(Debug)]
pub struct ZmqServer {
    pub_listener: TcpListener,
    pull_listener: TcpListener,
    pub_addr: SocketAddr,
    pull_addr: SocketAddr,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ZmqServer {
    /// Validates `config` and binds both endpoints; refuses any address that is not loopback.
    pub async fn bind(broker: &EmbeddedBroker, config: ZmqConfig) -> Result<Self, ZmqError> {
        for addr in [config.pub_bind, config.pull_bind] {
            if !addr.ip().is_loopback() {
                return Err(ZmqError::LoopbackOnly(addr));
            }
        }
        if config.client_buffer == 0 {
            return Err(ZmqError::ZeroBuffer);
        }
        let bind = |endpoint, addr| async move {
            let error = |source| ZmqError::Bind {
                endpoint,
                addr,
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(error)?;
            let local = listener.local_addr().map_err(error)?;
            Ok::<_, ZmqError>((listener, local))
        };
        let (pub_listener, pub_addr) = bind("PUB", config.pub_bind).await?;
        let (pull_listener, pull_addr) = bind("PULL", config.pull_bind).await?;
        tracing::info!(pub_endpoint = %format!("tcp://{pub_addr}"), pull_endpoint = %format!("tcp://{pull_addr}"), "ZeroMQ endpoints bound");
        Ok(ZmqServer {
            pub_listener,
            pull_listener,
            pub_addr,
            pull_addr,
            shared: Arc::new(Shared {
                hub: Arc::clone(broker.hub()),
                config,
                next_client: AtomicU64::new(1),
            }),
        })
    }

    /// Where SUB sockets connect (with the real port when bound to port 0).
    pub fn pub_addr(&self) -> SocketAddr {
        self.pub_addr
    }

    /// Where PUSH sockets connect.
    pub fn pull_addr(&self) -> SocketAddr {
        self.pull_addr
    }

    /// Serves both endpoints on a new task until shut down.
    pub fn spawn(self) -> RunningZmqServer {
        let (stop, _) = watch::channel(false);
        let (pub_addr, pull_addr) = (self.pub_addr, self.pull_addr);
        let task = tokio::spawn(serve(self, stop.clone()));
        RunningZmqServer {
            pub_addr,
            pull_addr,
            stop,
            task,
        }
    }
}

/// Which endpoint a connection came in on.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Pub,
    Pull,
}

async fn serve(server: ZmqServer, shutdown: watch::Sender<bool>) {
    let ZmqServer {
        pub_listener,
        pull_listener,
        shared,
        ..
    } = server;
    let mut stop = shutdown.subscribe();
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => break,
            a = pub_listener.accept() => a.map(|(s, p)| (Endpoint::Pub, s, p)),
            a = pull_listener.accept() => a.map(|(s, p)| (Endpoint::Pull, s, p)),
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((endpoint, stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let shared = Arc::clone(&shared);
                let stop = shutdown.subscribe();
                match endpoint {
                    Endpoint::Pub => connections.spawn(publisher::run(shared, stream, peer, stop)),
                    Endpoint::Pull => connections.spawn(puller::run(shared, stream, peer, stop)),
                };
            }
            Err(error) => {
                // Out of descriptors and the like: wait a little instead of spinning.
                tracing::warn!(%error, "ZeroMQ endpoint cannot accept");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    drop((pub_listener, pull_listener));
    while connections.join_next().await.is_some() {}
    tracing::info!("ZeroMQ endpoints stopped");
}

/// The ZeroMQ endpoints running on their own task.
#[derive(Debug)]
pub struct RunningZmqServer {
    pub_addr: SocketAddr,
    pull_addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl RunningZmqServer {
    /// Where SUB sockets connect.
    pub fn pub_addr(&self) -> SocketAddr {
        self.pub_addr
    }

    /// Where PUSH sockets connect.
    pub fn pull_addr(&self) -> SocketAddr {
        self.pull_addr
    }

    /// The `zmq://` URL another Switchyard uses to reach these endpoints.
    pub fn url(&self) -> String {
        format!("zmq://{}?pull={}", self.pub_addr, self.pull_addr.port())
    }

    /// Stops accepting, closes every connection and waits until they are gone.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "ZeroMQ endpoint task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_loopback_is_bound_without_curve() {
        let broker = EmbeddedBroker::new(Default::default());
        let mut config = ZmqConfig::on_ports(0, 0);
        config.pull_bind = SocketAddr::from(([0, 0, 0, 0], 0));
        let e = ZmqServer::bind(&broker, config)
            .await
            .expect_err("a wildcard address is refused");
        assert!(matches!(e, ZmqError::LoopbackOnly(_)), "{e}");
        assert!(e.to_string().contains("CURVE"), "{e}");
        let server = ZmqServer::bind(&broker, ZmqConfig::on_ports(0, 0))
            .await
            .expect("loopback binds");
        assert_ne!(server.pub_addr().port(), 0);
        server.spawn().shutdown().await;
    }

    /// A raw SUB connection to `server`'s PUB endpoint, past the handshake.
    async fn raw_sub(server: &RunningZmqServer) -> tokio::net::TcpStream {
        let mut stream = tokio::net::TcpStream::connect(server.pub_addr())
            .await
            .expect("connect");
        crate::zmtp::handshake(&mut stream, crate::zmtp::SocketType::Sub)
            .await
            .expect("handshake");
        stream
    }

    /// Reads the `[topic, ""]` answer to a sync subscription; returns its topic.
    async fn sync_answer(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        let h = crate::zmtp::read_header(stream).await.expect("sync");
        let topic = crate::zmtp::read_body(stream, h.len).await.expect("sync");
        let h = crate::zmtp::read_header(stream)
            .await
            .expect("sync payload");
        crate::zmtp::skip_body(stream, h.len)
            .await
            .expect("sync payload");
        topic.to_vec()
    }

    /// Reads `[topic, payload]` messages until one whose topic is not a sync answer.
    async fn next_topic(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
        loop {
            let mut frames = Vec::new();
            loop {
                let h = crate::zmtp::read_header(stream).await.expect("header");
                frames.push(crate::zmtp::read_body(stream, h.len).await.expect("body"));
                if !h.more {
                    break;
                }
            }
            if !frames[0].starts_with(crate::zmtp::SYNC_PREFIX) {
                return frames[0].to_vec();
            }
        }
    }

    #[tokio::test]
    async fn a_multi_frame_message_from_a_sub_subscribes_to_nothing() {
        use tokio::io::AsyncWriteExt as _;
        let broker = EmbeddedBroker::new(Default::default());
        let server = ZmqServer::bind(&broker, ZmqConfig::on_ports(0, 0))
            .await
            .expect("bind")
            .spawn();
        let mut sub = raw_sub(&server).await;
        // [\x01a., \x01b.] as one message: neither frame is a subscription.
        crate::zmtp::write_frame(&mut sub, 0x01, b"\x01a.")
            .await
            .expect("w");
        crate::zmtp::write_frame(&mut sub, 0, b"\x01b.")
            .await
            .expect("w");
        crate::zmtp::write_subscription(&mut sub, true, b"c.")
            .await
            .expect("w");
        let mut sync = crate::zmtp::SYNC_PREFIX.to_vec();
        sync.push(b'1');
        crate::zmtp::write_subscription(&mut sub, true, &sync)
            .await
            .expect("w");
        sub.flush().await.expect("flush");
        // The sync answer comes once the subscriptions before it are in place.
        assert_eq!(sync_answer(&mut sub).await, sync);
        for t in ["a.x", "b.x", "c.x"] {
            broker
                .try_publish(&t.parse().expect("topic"), "p".into())
                .expect("publish");
        }
        assert_eq!(next_topic(&mut sub).await, b"c.x");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn zmtp_3_1_subscribe_commands_work_too() {
        use tokio::io::AsyncWriteExt as _;
        let broker = EmbeddedBroker::new(Default::default());
        let server = ZmqServer::bind(&broker, ZmqConfig::on_ports(0, 0))
            .await
            .expect("bind")
            .spawn();
        let mut sub = raw_sub(&server).await;
        let mut command = vec![9];
        command.extend_from_slice(b"SUBSCRIBE");
        command.extend_from_slice(b"cmd.");
        crate::zmtp::write_command(&mut sub, &command)
            .await
            .expect("w");
        let mut sync = crate::zmtp::SYNC_PREFIX.to_vec();
        sync.push(b'1');
        crate::zmtp::write_subscription(&mut sub, true, &sync)
            .await
            .expect("w");
        sub.flush().await.expect("flush");
        assert_eq!(sync_answer(&mut sub).await, sync);
        for t in ["other.x", "cmd.x"] {
            broker
                .try_publish(&t.parse().expect("topic"), "p".into())
                .expect("publish");
        }
        assert_eq!(next_topic(&mut sub).await, b"cmd.x");
        server.shutdown().await;
    }

    #[tokio::test]
    async fn a_sub_past_the_subscription_limit_is_closed() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let broker = EmbeddedBroker::new(Default::default());
        let server = ZmqServer::bind(&broker, ZmqConfig::on_ports(0, 0))
            .await
            .expect("bind")
            .spawn();
        let mut sub = raw_sub(&server).await;
        let mut batch = Vec::new();
        for i in 0..=publisher::MAX_SUBSCRIPTIONS {
            crate::zmtp::write_subscription(&mut batch, true, format!("t{i}.").as_bytes())
                .await
                .expect("w");
        }
        // The endpoint may close while we still write: either way the connection ends.
        let _ = sub.write_all(&batch).await;
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(30),
            sub.read_to_end(&mut rest),
        )
        .await
        .expect("closed within the deadline");
        assert!(read.is_err() || rest.is_empty(), "{read:?}");
        server.shutdown().await;
    }
}
