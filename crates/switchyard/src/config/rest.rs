//! The `[rest]` section: the REST proxy's listener (`switchyard rest-proxy`: bind, port,
//! secret), and every other key read straight into the library's [`RestConfig`] (the limiter
//! and client), whose keys and defaults are defined there.

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;
use switchyard_rest::RestConfig;

/// The proxy's default port.
pub const DEFAULT_REST_PORT: u16 = 7381;

/// `[rest]`.
#[derive(Debug, Clone, Default)]
pub struct RestSection {
    /// The proxy's listener.
    pub process: ProxyKeys,
    /// The limiter's and client's settings.
    pub config: RestConfig,
}

/// The `[rest]` keys of the proxy's listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyKeys {
    /// Address the proxy binds (loopback by default; anything else needs `secret`).
    pub bind: IpAddr,
    /// Port of the proxy.
    pub port: u16,
    /// Secret every request must carry in `X-Switchyard-Secret`; required off loopback.
    pub secret: Option<String>,
}

impl ProxyKeys {
    const KEYS: [&str; 3] = ["bind", "port", "secret"];
}

impl Default for ProxyKeys {
    fn default() -> Self {
        ProxyKeys {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_REST_PORT,
            secret: None,
        }
    }
}

impl RestSection {
    /// Reads the `[rest]` table: the listener's keys, then the library's settings.
    pub(super) fn from_table(table: toml::Table) -> anyhow::Result<Self> {
        let (process, config) = super::read_apart("rest", table, &ProxyKeys::KEYS)?;
        Ok(RestSection { process, config })
    }

    /// Checks the section, again after command-line flags changed it.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.config
            .check()
            .map_err(|e| anyhow::anyhow!("rest.{e}"))?;
        if !self.process.bind.is_loopback() && self.process.secret.is_none() {
            anyhow::bail!(
                "rest.bind = {} is not a loopback address; set rest.secret (or SWITCHYARD_REST_SECRET) so that requests must carry it in X-Switchyard-Secret",
                self.process.bind
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use switchyard_rest::WaitMode;

    use super::*;

    fn section(keys: &str) -> anyhow::Result<RestSection> {
        let text = format!("[rest]\n{keys}\n");
        Ok(crate::config::Config::from_sources(&text, "t", Vec::new())?.rest)
    }

    #[test]
    fn off_loopback_needs_a_secret_and_urls_are_checked() {
        let ok = RestSection::default();
        assert!(ok.validate().is_ok());
        let e = section("bind = \"0.0.0.0\"").expect_err("no secret");
        assert!(e.to_string().contains("rest.secret"), "{e}");
        let e = section("upstream = \"discord.com\"").expect_err("no scheme");
        assert!(
            e.to_string().contains("rest") && e.to_string().contains("upstream"),
            "{e}"
        );
        let e = section("redis = \"http://u:sekrit@x\"").expect_err("not redis");
        assert!(!e.to_string().contains("sekrit"), "{e}");
        let cfg = section("mode = \"fail_fast\"").expect("valid").config;
        assert_eq!(cfg.wait, WaitMode::FailFast);
        let s = section("port = 9\nglobal_per_second = 7\nmax_wait_ms = 20").expect("valid");
        assert_eq!(s.process.port, 9);
        assert_eq!(s.config.global.limit, 7);
        assert_eq!(
            s.config.wait,
            WaitMode::Queue {
                max_wait: std::time::Duration::from_millis(20)
            }
        );
        let e = section("prot = 9").expect_err("unknown key");
        assert!(e.to_string().contains("rest.prot"), "{e}");
    }
}
