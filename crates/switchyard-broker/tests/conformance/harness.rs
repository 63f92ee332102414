//! The backends the conformance cases run against: each fixture starts its own private
//! server (through switchyard-testkit), hands out independent connections, and can restart
//! the server.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use switchyard_broker::embedded::zmq::{RunningZmqServer, ZmqConfig, ZmqServer};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use switchyard_broker::{
    Broker, BrokerError, BrokerOptions, Message, Pattern, RetryPolicy, Subscription, Topic, connect,
};
use switchyard_testkit::{NatsCluster, NatsServer, RedisServer};

/// The largest payload every fixture accepts: a bit over 1 MiB.
pub const MAX_PAYLOAD: usize = (1 << 20) + 4096;
/// Redelivery after this long without an ack, in the durable modes.
pub const ACK_WAIT_MS: u64 = 800;
/// Deliveries before the dead-letter stream. A member that holds messages without acking
/// while it is alive gets them again every `ACK_WAIT_MS`, so `durable_keyed_handover`, whose
/// "crashing" member stays alive until every message was delivered once (seconds, while its
/// group settles on a loaded machine), needs more than a few before its messages move on.
pub const MAX_DELIVER: u32 = 8;

/// Which backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Redis,
    RedisStreams,
    Nats,
    NatsJetStream,
    /// JetStream on three clustered nats-servers, every stream on all three (`replicas=3`),
    /// the URL naming every server.
    NatsCluster,
    /// `zmq://` against an embedded broker's ZeroMQ endpoints in this process.
    Zmq,
}

/// How a case ended.
#[derive(Debug)]
pub enum Outcome {
    Passed,
    /// The backend answered `Unsupported` (or the fixture cannot do what the case needs).
    Unsupported(String),
}

/// Turns a broker result into the case's flow: `Unsupported` ends the case as such.
#[macro_export]
macro_rules! supported {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(switchyard_broker::BrokerError::Unsupported { backend, what }) => {
                return $crate::harness::Outcome::Unsupported(format!("{backend}: {what}"));
            }
            Err(e) => panic!("{}: {e}", stringify!($e)),
        }
    };
}

/// A private server (if the backend has one) and what is needed to connect to it.
pub struct Fixture {
    pub kind: Kind,
    redis: Option<RedisServer>,
    nats: Option<NatsServer>,
    cluster: Option<NatsCluster>,
    embedded: Option<EmbeddedBroker>,
    zmq: Option<(EmbeddedBroker, RunningZmqServer)>,
    url: String,
    pub prefix: String,
}

impl Fixture {
    /// Starts the backend's server; `case` names the topic prefix.
    pub fn start(kind: Kind, case: &str) -> Self {
        let prefix = format!("conf_{case}");
        let mut fixture = Fixture {
            kind,
            redis: None,
            nats: None,
            cluster: None,
            embedded: None,
            zmq: None,
            url: String::new(),
            prefix: prefix.clone(),
        };
        let durable = |mode: &str| {
            format!(
                "durable={mode}&prefixes={prefix}&ack_wait_ms={ACK_WAIT_MS}&max_deliver={MAX_DELIVER}&name=conf"
            )
        };
        match kind {
            Kind::Embedded => {
                fixture.embedded = Some(EmbeddedBroker::new(EmbeddedConfig {
                    subscriber_buffer: 4096,
                    max_payload: MAX_PAYLOAD,
                }));
                fixture.url = "embedded".into();
            }
            Kind::Zmq => {
                let hub = EmbeddedBroker::new(EmbeddedConfig {
                    subscriber_buffer: 4096,
                    max_payload: MAX_PAYLOAD,
                });
                let server = start_zmq(&hub, ZmqConfig::on_ports(0, 0));
                fixture.url = server.url();
                fixture.zmq = Some((hub, server));
            }
            Kind::Redis | Kind::RedisStreams => {
                let server = RedisServer::start_persistent();
                fixture.url = match kind {
                    Kind::Redis => server.url(),
                    _ => format!("{}?{}", server.url(), durable("streams")),
                };
                fixture.redis = Some(server);
            }
            Kind::Nats | Kind::NatsJetStream => {
                let server = NatsServer::start();
                fixture.url = match kind {
                    Kind::Nats => server.url(),
                    _ => format!("{}?{}", server.url(), durable("jetstream")),
                };
                fixture.nats = Some(server);
            }
            Kind::NatsCluster => {
                let cluster = NatsCluster::start();
                fixture.url = format!("{}?{}&replicas=3", cluster.url(), durable("jetstream"));
                fixture.cluster = Some(cluster);
            }
        }
        fixture
    }

    /// Options with short timeouts for tests.
    pub fn options() -> BrokerOptions {
        BrokerOptions {
            retry: RetryPolicy {
                initial: Duration::from_millis(50),
                max: Duration::from_millis(400),
                attempts: Some(3),
            },
            max_payload: MAX_PAYLOAD,
            ..BrokerOptions::default()
        }
    }

    /// A new, independent connection (for embedded: a handle on the same hub).
    pub async fn connect(&self) -> Arc<dyn Broker> {
        if let Some(embedded) = &self.embedded {
            return Arc::new(embedded.clone());
        }
        connect(&self.url, &Self::options())
            .await
            .unwrap_or_else(|e| panic!("connect to {:?}: {e}", self.kind))
    }

    /// Restarts the server, keeping its data (a cluster: every server, all down at once).
    pub fn restart(&mut self) -> Result<(), BrokerError> {
        let (redis, nats) = (self.redis.as_mut(), self.nats.as_mut());
        if let Some(cluster) = self.cluster.as_mut() {
            tokio::task::block_in_place(|| cluster.restart_all());
            return Ok(());
        }
        if let Some((hub, server)) = self.zmq.take() {
            // The same hub and ports: clients see the endpoints go away and come back.
            let config = ZmqConfig::on_ports(server.pub_addr().port(), server.pull_addr().port());
            let handle = tokio::runtime::Handle::current();
            tokio::task::block_in_place(|| handle.block_on(server.shutdown()));
            let server = start_zmq(&hub, config);
            self.zmq = Some((hub, server));
            return Ok(());
        }
        tokio::task::block_in_place(|| {
            if let Some(server) = redis {
                server.restart();
                Ok(())
            } else if let Some(server) = nats {
                server.restart();
                Ok(())
            } else {
                Err(BrokerError::Unsupported {
                    backend: "embedded",
                    what: "restarts: it lives inside the process, there is no server to restart",
                })
            }
        })
    }

    /// `{prefix}.{rest}`.
    pub fn topic(&self, rest: &str) -> Topic {
        Topic::new(&format!("{}.{rest}", self.prefix)).expect("valid topic")
    }

    /// `{prefix}.{rest}`.
    pub fn pattern(&self, rest: &str) -> Pattern {
        Pattern::new(&format!("{}.{rest}", self.prefix)).expect("valid pattern")
    }
}

/// Binds and starts ZeroMQ endpoints on `hub` from inside a (multi-threaded) test runtime.
fn start_zmq(hub: &EmbeddedBroker, config: ZmqConfig) -> RunningZmqServer {
    let handle = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| handle.block_on(ZmqServer::bind(hub, config)))
        .expect("ZeroMQ endpoints bind")
        .spawn()
}

/// Receives until `n` messages arrived or `limit` passed.
pub async fn collect(sub: &mut Subscription, n: usize, limit: Duration) -> Vec<Message> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while out.len() < n {
        match tokio::time::timeout_at(deadline, sub.recv()).await {
            Ok(Some(m)) => out.push(m),
            _ => break,
        }
    }
    out
}

/// Topics of messages as a sorted set.
pub fn topics(messages: &[Message]) -> BTreeSet<String> {
    messages.iter().map(|m| m.topic.to_string()).collect()
}
