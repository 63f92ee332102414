//! The `[grpc]` section: the gRPC listener of `switchyard run` (Control, Cache and Rest services).

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// The default gRPC address.
pub const DEFAULT_GRPC: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7383);

/// `[grpc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    /// Whether `switchyard run` opens the listener (off by default).
    pub enabled: bool,
    /// Where it listens (loopback, port 7383, by default).
    pub bind: SocketAddr,
    /// Bearer token every call must carry (`authorization: Bearer …`); mandatory for a
    /// non-loopback address.
    pub token: Option<String>,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        GrpcConfig {
            enabled: false,
            bind: DEFAULT_GRPC,
            token: None,
        }
    }
}

impl GrpcConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if self.enabled && !self.bind.ip().is_loopback() && self.token.is_none() {
            anyhow::bail!(
                "grpc.bind = {} is not a loopback address; set grpc.token (or SWITCHYARD_GRPC_TOKEN) so that calls must carry it",
                self.bind
            );
        }
        if self.token.as_deref().is_some_and(str::is_empty) {
            anyhow::bail!("grpc.token is empty; leave it out or give a secret");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn load(text: &str, env: &[(&str, &str)]) -> anyhow::Result<Config> {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Config::from_sources(text, "t", env)
    }

    #[test]
    fn off_by_default_on_loopback() {
        let config = load("", &[]).expect("defaults");
        assert!(!config.grpc.enabled);
        assert_eq!(config.grpc.bind, super::DEFAULT_GRPC);
    }

    #[test]
    fn a_listener_off_loopback_needs_a_token() {
        let open = "[grpc]\nenabled = true\nbind = \"0.0.0.0:7383\"\n";
        let e = load(open, &[]).expect_err("no token");
        assert!(format!("{e:#}").contains("grpc.token"), "{e:#}");
        let config = load(open, &[("SWITCHYARD_GRPC_TOKEN", "s3cret")]).expect("a token");
        assert_eq!(config.grpc.token.as_deref(), Some("s3cret"));
        let e = load("[grpc]\ntoken = \"\"\n", &[]).expect_err("an empty token");
        assert!(format!("{e:#}").contains("grpc.token is empty"), "{e:#}");
    }
}
