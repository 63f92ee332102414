//! Choosing a backend from a URL: [`connect`], with [`BrokerOptions`] for limits and retries
//! and [`DurableOptions`] for the durable modes.

use std::sync::Arc;
use std::time::Duration;

use crate::embedded::{EmbeddedBroker, EmbeddedConfig};
use crate::nats::NatsBroker;
use crate::redis::{RedisBroker, StreamsBroker};
use crate::url::BackendKind;
use crate::zmq::ZmqBroker;
use crate::{Broker, BrokerError, BrokerUrl, RetryPolicy};

/// Limits and retries shared by every backend. As a TOML table (the `[broker]` section), its
/// keys are flat: `subscriber_buffer`, `max_payload`, `outage_buffer`, `connect_attempts`,
/// `retry_initial_ms`, `retry_max_ms`, `durable`, `durable_prefixes`, `ack_wait_ms`,
/// `max_deliver`, `max_in_flight`, `max_len`, `dedup_window_ms`, `durable_name`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "crate::options_keys::OptionKeys")]
pub struct BrokerOptions {
    /// Connecting at start and reconnecting later.
    pub retry: RetryPolicy,
    /// Messages buffered while the connection is down before the oldest are dropped
    /// (counted in `switchyard_broker_undeliverable_total` and logged).
    pub outage_buffer: usize,
    /// The largest payload accepted, in bytes; the server's own limit applies too, whichever
    /// is smaller.
    pub max_payload: usize,
    /// Messages buffered per subscription.
    pub subscriber_buffer: usize,
    /// How long to wait for an answer from the broker.
    pub response_timeout: Duration,
    /// Durable mode (Redis Streams, NATS JetStream) and its settings.
    pub durable: DurableOptions,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            retry: RetryPolicy::default(),
            outage_buffer: 10_000,
            max_payload: 8 * 1024 * 1024,
            subscriber_buffer: 4096,
            response_timeout: Duration::from_secs(10),
            durable: DurableOptions::default(),
        }
    }
}

/// Durable mode: Redis Streams consumer groups or NATS JetStream durable consumers.
///
/// In the URL: `?durable=streams` (Redis) or `?durable=jetstream` (NATS), and optionally
/// `prefixes=inbound,outbound`, `ack_wait_ms=30000`, `max_deliver=5`, `max_in_flight=256`,
/// `max_len=1000000`,
/// `dedup_window_ms=120000`, `name=switchyard`, `replicas=3` (JetStream on a cluster).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableOptions {
    /// Whether durable mode is on.
    pub enabled: bool,
    /// Topic prefixes (whole segments, such as `inbound` or `inbound.discord`) that are
    /// stored: one Redis stream per prefix; on NATS one JetStream stream covering them all.
    /// Publishing outside them is refused in durable mode.
    pub prefixes: Vec<String>,
    /// How long a delivery may stay unacknowledged before it is delivered again.
    pub ack_wait: Duration,
    /// Deliveries before a message goes to the dead-letter stream or subject.
    pub max_deliver: u32,
    /// Deliveries one member may hold unsettled: it takes no more from the broker until its
    /// consumer acks, nacks or drops some, so that a slow or stuck member leaves the rest
    /// to the others instead of hoarding messages that then time out and come again.
    pub max_in_flight: u32,
    /// Messages kept per stream (older ones are trimmed).
    pub max_len: u64,
    /// How long a message id is remembered for deduplication.
    pub dedup_window: Duration,
    /// The name of the streams: Redis keys start with `{name}:`, the JetStream stream is
    /// `{NAME}`.
    pub name: String,
    /// Copies JetStream keeps of each stream and key-value bucket (1 to 5): 3 on a cluster
    /// of three or more servers, so that losing one loses nothing acknowledged. Redis
    /// ignores it.
    pub replicas: u32,
}

impl Default for DurableOptions {
    fn default() -> Self {
        DurableOptions {
            enabled: false,
            // Everything Switchyard itself publishes: events, answers, control messages,
            // gateway commands on their way to a shard, and the gateway's reports of refused
            // outbound messages.
            prefixes: vec![
                "inbound".into(),
                "outbound".into(),
                "control".into(),
                "command".into(),
                "errors".into(),
            ],
            ack_wait: Duration::from_secs(30),
            max_deliver: 5,
            max_in_flight: 256,
            max_len: 1_000_000,
            dedup_window: Duration::from_secs(120),
            name: "switchyard".into(),
            replicas: 1,
        }
    }
}

impl DurableOptions {
    /// Applies the URL's query options over these.
    pub fn apply_url(&mut self, url: &BrokerUrl) -> Result<(), BrokerError> {
        if url.option("durable").is_some() {
            self.enabled = url.durable();
        }
        let number = |key: &str| -> Result<Option<u64>, BrokerError> {
            url.option(key)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| {
                        BrokerError::Config(format!(
                            "{key}={v:?} in {} is not a whole number",
                            url.redacted()
                        ))
                    })
                })
                .transpose()
        };
        if let Some(prefixes) = url.option("prefixes") {
            self.prefixes = prefixes
                .split(',')
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(ms) = number("ack_wait_ms")? {
            self.ack_wait = Duration::from_millis(ms);
        }
        if let Some(n) = number("max_deliver")? {
            self.max_deliver = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = number("max_in_flight")? {
            self.max_in_flight = u32::try_from(n).unwrap_or(u32::MAX);
        }
        if let Some(n) = number("max_len")? {
            self.max_len = n;
        }
        if let Some(ms) = number("dedup_window_ms")? {
            self.dedup_window = Duration::from_millis(ms);
        }
        if let Some(name) = url.option("name") {
            self.name = name.to_owned();
        }
        if let Some(n) = number("replicas")? {
            self.replicas = u32::try_from(n).unwrap_or(u32::MAX);
        }
        self.validate()
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), BrokerError> {
        if !(1..=5).contains(&self.replicas) {
            return Err(BrokerError::Config(format!(
                "replicas = {} is out of range: JetStream keeps 1 to 5 copies of a stream (3 on a cluster of three servers)",
                self.replicas
            )));
        }
        if self.prefixes.is_empty() {
            return Err(BrokerError::Config(
                "durable mode needs at least one topic prefix".into(),
            ));
        }
        for p in &self.prefixes {
            switchyard_core::Topic::check(p).map_err(|e| {
                BrokerError::Config(format!("durable prefix {p:?} is not a topic prefix: {e}"))
            })?;
        }
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(BrokerError::Config(format!(
                "durable name {:?}: use letters, digits, `-` and `_`",
                self.name
            )));
        }
        if self.max_deliver == 0 || self.ack_wait.is_zero() || self.max_in_flight == 0 {
            return Err(BrokerError::Config(
                "durable max_deliver, max_in_flight and ack_wait must be above zero".into(),
            ));
        }
        Ok(())
    }

    /// The configured prefix `topic` falls under (the longest one).
    pub(crate) fn prefix_of(&self, topic: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .filter(|p| {
                topic
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .max_by_key(|p| p.len())
            .map(String::as_str)
    }
}

/// Connects to the broker `url` names: `embedded` (a new in-process broker), `redis://…` /
/// `rediss://…` (pub/sub, or Streams with `?durable=streams`), `nats://…` (core NATS, or
/// JetStream with `?durable=jetstream`), `zmq://…` (another Switchyard's ZeroMQ endpoints). Durable mode is also on when
/// `options.durable.enabled` is set.
///
/// The first connection retries per `options.retry`; then it fails with
/// [`BrokerError::Unreachable`] (naming the redacted URL and what to check) or
/// [`BrokerError::Auth`].
pub async fn connect(url: &str, options: &BrokerOptions) -> Result<Arc<dyn Broker>, BrokerError> {
    let url = BrokerUrl::parse(url)?;
    let mut options = options.clone();
    options.durable.apply_url(&url)?;
    let durable = options.durable.enabled;
    Ok(match url.kind() {
        BackendKind::Embedded if durable => {
            return Err(BrokerError::Unsupported {
                backend: "embedded",
                what: "durable mode",
            });
        }
        BackendKind::Embedded => Arc::new(EmbeddedBroker::new(EmbeddedConfig {
            subscriber_buffer: options.subscriber_buffer,
            max_payload: options.max_payload,
        })),
        BackendKind::Redis if durable => Arc::new(StreamsBroker::from_url(&url, &options).await?),
        BackendKind::Redis => Arc::new(RedisBroker::from_url(&url, &options).await?),
        BackendKind::Nats => Arc::new(NatsBroker::from_url(&url, &options).await?),
        BackendKind::Zmq => Arc::new(ZmqBroker::from_url(&url, &options).await?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_options_override_durable_settings() {
        let url = BrokerUrl::parse(
            "redis://h?durable=streams&prefixes=a,b.c&ack_wait_ms=500&max_deliver=2&max_in_flight=9",
        )
        .expect("valid");
        let mut d = DurableOptions::default();
        d.apply_url(&url).expect("valid options");
        assert!(d.enabled);
        assert_eq!(d.prefixes, ["a", "b.c"]);
        assert_eq!(d.ack_wait, Duration::from_millis(500));
        assert_eq!(d.max_deliver, 2);
        assert_eq!(d.max_in_flight, 9);
        assert_eq!(d.prefix_of("b.c.d"), Some("b.c"));
        assert_eq!(d.prefix_of("b.cd"), None);
        let bad = BrokerUrl::parse("redis://h?max_deliver=x").expect("valid");
        assert!(d.apply_url(&bad).is_err());
        let none = BrokerUrl::parse("redis://h?max_in_flight=0").expect("valid");
        let err = d
            .apply_url(&none)
            .expect_err("a member must hold one at least");
        assert!(err.to_string().contains("max_in_flight"), "{err}");
    }

    #[test]
    fn replicas_come_from_the_url_within_what_jetstream_keeps() {
        let mut d = DurableOptions::default();
        assert_eq!(d.replicas, 1);
        let url =
            BrokerUrl::parse("nats://a:1,nats://b:2?durable=jetstream&replicas=3").expect("valid");
        d.apply_url(&url).expect("valid options");
        assert_eq!(d.replicas, 3);
        assert_eq!(url.server(), "nats://a:1,nats://b:2");
        for n in [0, 6] {
            let url = BrokerUrl::parse(&format!("nats://a:1?replicas={n}")).expect("valid");
            let e = DurableOptions::default()
                .apply_url(&url)
                .expect_err("out of range");
            assert!(e.to_string().contains("1 to 5"), "{e}");
        }
    }
}
