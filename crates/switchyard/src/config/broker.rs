//! The `[broker]` section: which broker, how to connect to it (retries, outage buffer), its
//! durable mode, and the embedded broker's RESP listener.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use switchyard_broker::BrokerOptions;
use switchyard_broker::embedded::EmbeddedConfig;
pub use switchyard_broker::embedded::resp::DEFAULT_RESP_PORT;
use switchyard_broker::embedded::resp::RespConfig;

/// `[broker]`: which broker and the embedded broker's RESP listener (this process's keys),
/// and every other key read straight into the library's [`BrokerOptions`].
#[derive(Debug, Clone, Default)]
pub struct BrokerConfig {
    /// This process's keys.
    pub process: BrokerKeys,
    /// Connection, limits and durable-mode settings for [`switchyard_broker::connect`].
    pub options: BrokerOptions,
}

/// The `[broker]` keys that are not [`BrokerOptions`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerKeys {
    /// `embedded` (default), `redis://…` or `nats://…`.
    pub url: String,
    /// Address the embedded broker's RESP listener binds.
    pub resp_bind: IpAddr,
    /// Port of the embedded broker's RESP listener.
    pub resp_port: u16,
    /// Password RESP clients must AUTH with; required off loopback.
    pub resp_password: Option<String>,
}

impl BrokerKeys {
    const KEYS: [&str; 4] = ["url", "resp_bind", "resp_port", "resp_password"];
}

impl Default for BrokerKeys {
    fn default() -> Self {
        BrokerKeys {
            url: "embedded".to_owned(),
            resp_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            resp_port: DEFAULT_RESP_PORT,
            resp_password: None,
        }
    }
}

impl BrokerConfig {
    /// Reads the `[broker]` table: this process's keys, then the library's options.
    pub(super) fn from_table(table: toml::Table) -> anyhow::Result<Self> {
        let (process, options) = super::read_apart("broker", table, &BrokerKeys::KEYS)?;
        Ok(BrokerConfig { process, options })
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let p = &self.process;
        if let Err(e) = switchyard_broker::BrokerUrl::parse(&p.url) {
            anyhow::bail!("broker.url: {e}");
        }
        if !p.resp_bind.is_loopback() && p.resp_password.is_none() {
            anyhow::bail!(
                "broker.resp_bind = {} is not a loopback address; set broker.resp_password (or SWITCHYARD_BROKER_RESP_PASSWORD) so that clients must AUTH",
                p.resp_bind
            );
        }
        Ok(())
    }

    /// The RESP listener's settings.
    pub fn resp(&self) -> RespConfig {
        RespConfig {
            bind: SocketAddr::new(self.process.resp_bind, self.process.resp_port),
            password: self.process.resp_password.clone(),
            ..RespConfig::on_port(self.process.resp_port)
        }
    }

    /// The embedded broker's settings.
    pub fn embedded(&self) -> EmbeddedConfig {
        EmbeddedConfig {
            subscriber_buffer: self.options.subscriber_buffer,
            max_payload: self.options.max_payload,
        }
    }
}
