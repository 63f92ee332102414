//! The `[broker]` section: which broker, how to connect to it (retries, outage buffer), its
//! durable mode, and the embedded broker's RESP listener.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Deserialize;

pub use switchyard_broker::embedded::resp::DEFAULT_RESP_PORT;

/// `[broker]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// `embedded` (default), `redis://…` or `nats://…`.
    pub url: String,
    /// Address the embedded broker's RESP listener binds.
    pub resp_bind: IpAddr,
    /// Port of the RESP listener.
    pub resp_port: u16,
    /// Password RESP clients must AUTH with; required to bind a non-loopback address.
    pub resp_password: Option<String>,
    /// Messages buffered per subscriber before drops begin.
    pub subscriber_buffer: usize,
    /// The largest payload accepted, in bytes.
    pub max_payload: usize,
    /// Connection attempts at start before giving up (0: retry until it succeeds).
    pub connect_attempts: u32,
    /// The first delay between connection attempts, in milliseconds; it doubles each time.
    pub retry_initial_ms: u64,
    /// The longest delay between connection attempts, in milliseconds.
    pub retry_max_ms: u64,
    /// Messages buffered while the connection to Redis or NATS is down.
    pub outage_buffer: usize,
    /// Durable mode: Redis Streams (`redis://`) or JetStream (`nats://`). Also
    /// `?durable=streams` / `?durable=jetstream` in the URL.
    pub durable: bool,
    /// Topic prefixes stored in durable mode (one Redis stream per prefix).
    pub durable_prefixes: Vec<String>,
    /// Durable mode: redelivery after this long without an ack, in milliseconds.
    pub ack_wait_ms: u64,
    /// Durable mode: deliveries before a message goes to the dead-letter stream.
    pub max_deliver: u32,
    /// Durable mode: messages kept per stream.
    pub max_len: u64,
    /// Durable mode: how long a message id is remembered for deduplication, in milliseconds.
    pub dedup_window_ms: u64,
    /// Durable mode: the name of the streams (Redis key prefix, JetStream stream name).
    pub durable_name: String,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: "embedded".to_owned(),
            resp_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            resp_port: DEFAULT_RESP_PORT,
            resp_password: None,
            subscriber_buffer: 4096,
            max_payload: 8 * 1024 * 1024,
            connect_attempts: 5,
            retry_initial_ms: 100,
            retry_max_ms: 5000,
            outage_buffer: 10_000,
            durable: false,
            durable_prefixes: switchyard_broker::DurableOptions::default().prefixes,
            ack_wait_ms: 30_000,
            max_deliver: 5,
            max_len: 1_000_000,
            dedup_window_ms: 120_000,
            durable_name: "switchyard".to_owned(),
        }
    }
}

impl BrokerConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if let Err(e) = switchyard_broker::BrokerUrl::parse(&self.url) {
            anyhow::bail!("broker.url: {e}");
        }
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            anyhow::bail!(
                "broker.retry_initial_ms must be above 0 and broker.retry_max_ms at least as large"
            );
        }
        self.options()
            .durable
            .validate()
            .map_err(|e| anyhow::anyhow!("broker.durable_*: {e}"))?;
        if self.subscriber_buffer == 0 {
            anyhow::bail!("broker.subscriber_buffer must be at least 1");
        }
        if !self.resp_bind.is_loopback() && self.resp_password.is_none() {
            anyhow::bail!(
                "broker.resp_bind = {} is not a loopback address; set broker.resp_password (or SWITCHYARD_BROKER_RESP_PASSWORD) so that clients must AUTH",
                self.resp_bind
            );
        }
        Ok(())
    }

    /// The RESP listener's settings.
    pub fn resp(&self) -> switchyard_broker::embedded::resp::RespConfig {
        switchyard_broker::embedded::resp::RespConfig {
            bind: std::net::SocketAddr::new(self.resp_bind, self.resp_port),
            password: self.resp_password.clone(),
            ..switchyard_broker::embedded::resp::RespConfig::on_port(self.resp_port)
        }
    }

    /// Connection, limits and durable-mode settings for [`switchyard_broker::connect`].
    pub fn options(&self) -> switchyard_broker::BrokerOptions {
        switchyard_broker::BrokerOptions {
            retry: switchyard_broker::RetryPolicy {
                initial: Duration::from_millis(self.retry_initial_ms),
                max: Duration::from_millis(self.retry_max_ms),
                attempts: (self.connect_attempts > 0).then_some(self.connect_attempts),
            },
            outage_buffer: self.outage_buffer,
            max_payload: self.max_payload,
            subscriber_buffer: self.subscriber_buffer,
            durable: switchyard_broker::DurableOptions {
                enabled: self.durable,
                prefixes: self.durable_prefixes.clone(),
                ack_wait: Duration::from_millis(self.ack_wait_ms),
                max_deliver: self.max_deliver,
                max_len: self.max_len,
                dedup_window: Duration::from_millis(self.dedup_window_ms),
                name: self.durable_name.clone(),
            },
            ..switchyard_broker::BrokerOptions::default()
        }
    }

    /// The embedded broker's settings.
    pub fn embedded(&self) -> switchyard_broker::embedded::EmbeddedConfig {
        switchyard_broker::embedded::EmbeddedConfig {
            subscriber_buffer: self.subscriber_buffer,
            max_payload: self.max_payload,
        }
    }
}
