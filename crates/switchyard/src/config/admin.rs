//! The `[admin]` section: the admin listener every long-running subcommand opens.

use std::net::{Ipv4Addr, SocketAddr};

use serde::Deserialize;

/// The default admin address.
pub const DEFAULT_ADMIN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 7380);

/// `[admin]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Where `/metrics` and `/status` are served.
    pub bind: SocketAddr,
    /// Bearer token required on every request; mandatory for a non-loopback address.
    pub token: Option<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bind: DEFAULT_ADMIN,
            token: None,
        }
    }
}

impl AdminConfig {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !self.bind.ip().is_loopback() && self.token.is_none() {
            anyhow::bail!(
                "admin.bind = {} is not a loopback address; set admin.token (or SWITCHYARD_ADMIN_TOKEN) so that requests must carry it",
                self.bind
            );
        }
        Ok(())
    }
}
