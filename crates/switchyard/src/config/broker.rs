//! The `[broker]` section: which broker, how to connect to it (retries, outage buffer), its
//! durable mode, and the embedded broker's RESP listener and ZeroMQ endpoints.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use switchyard_broker::BrokerOptions;
use switchyard_broker::embedded::EmbeddedConfig;
pub use switchyard_broker::embedded::resp::DEFAULT_RESP_PORT;
use switchyard_broker::embedded::resp::RespConfig;
use switchyard_broker::embedded::zmq::ZmqConfig;

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
    /// The embedded broker's ZeroMQ PUB endpoint (SUB sockets connect here), such as
    /// `127.0.0.1:7381`; unset (the default): no ZeroMQ endpoints. Loopback only.
    pub zmq_pub: Option<SocketAddr>,
    /// The ZeroMQ PULL endpoint (PUSH sockets publish here), such as `127.0.0.1:7382`; set
    /// with `zmq_pub`.
    pub zmq_pull: Option<SocketAddr>,
}

impl BrokerKeys {
    const KEYS: [&str; 6] = [
        "url",
        "resp_bind",
        "resp_port",
        "resp_password",
        "zmq_pub",
        "zmq_pull",
    ];
}

impl Default for BrokerKeys {
    fn default() -> Self {
        BrokerKeys {
            url: "embedded".to_owned(),
            resp_bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            resp_port: DEFAULT_RESP_PORT,
            resp_password: None,
            zmq_pub: None,
            zmq_pull: None,
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
        if p.zmq_pub.is_some() != p.zmq_pull.is_some() {
            anyhow::bail!(
                "broker.zmq_pub and broker.zmq_pull go together: set both (for example 127.0.0.1:7381 and 127.0.0.1:7382) or neither"
            );
        }
        for (key, addr) in [("zmq_pub", p.zmq_pub), ("zmq_pull", p.zmq_pull)] {
            if let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) {
                anyhow::bail!(
                    "broker.{key} = {addr} is not a loopback address: ZeroMQ's NULL security authenticates nobody and this build has no CURVE; bind 127.0.0.1 and reach it through an SSH tunnel or a VPN"
                );
            }
        }
        Ok(())
    }

    /// The ZeroMQ endpoints' settings, when they are configured.
    pub fn zmq(&self) -> Option<ZmqConfig> {
        Some(ZmqConfig {
            pub_bind: self.process.zmq_pub?,
            pull_bind: self.process.zmq_pull?,
            client_buffer: self.options.subscriber_buffer.max(1),
        })
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

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn zmq_endpoints_are_off_by_default_and_loopback_only() {
        let config = Config::from_sources("", "t", env(&[])).expect("defaults");
        assert!(config.broker.zmq().is_none());
        let config = Config::from_sources(
            "[broker]\nzmq_pub = \"127.0.0.1:7381\"\n",
            "t",
            env(&[("SWITCHYARD_BROKER_ZMQ_PULL", "127.0.0.1:7382")]),
        )
        .expect("both set");
        let zmq = config.broker.zmq().expect("on");
        assert_eq!(zmq.pub_bind.port(), 7381);
        assert_eq!(zmq.pull_bind.port(), 7382);
        let e = Config::from_sources("[broker]\nzmq_pub = \"127.0.0.1:7381\"\n", "t", env(&[]))
            .expect_err("one without the other");
        assert!(e.to_string().contains("zmq_pull"), "{e}");
        let e = Config::from_sources(
            "[broker]\nzmq_pub = \"0.0.0.0:7381\"\nzmq_pull = \"127.0.0.1:7382\"\n",
            "t",
            env(&[]),
        )
        .expect_err("not loopback");
        assert!(e.to_string().contains("CURVE"), "{e}");
    }
}
