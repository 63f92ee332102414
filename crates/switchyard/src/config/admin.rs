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
    /// The address other nodes of a shard pool reach this listener at (`http://host:port`),
    /// to forward cache queries here. Default: `http://` and the bound address, unless that
    /// is a wildcard (0.0.0.0 or ::), which other nodes cannot reach.
    pub advertise: Option<String>,
    /// Host names the dashboard answers to besides the listener's own address (and
    /// `localhost` on loopback), such as a reverse proxy's name: a page reached by any other
    /// name is refused (DNS rebinding).
    pub hosts: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            bind: DEFAULT_ADMIN,
            token: None,
            advertise: None,
            hosts: Vec::new(),
        }
    }
}

impl AdminConfig {
    /// Where other nodes reach the listener bound at `bound`, if they can.
    pub fn advertised(&self, bound: SocketAddr) -> Option<String> {
        match &self.advertise {
            Some(url) => Some(url.trim_end_matches('/').to_owned()),
            None if bound.ip().is_unspecified() => None,
            None => Some(format!("http://{bound}")),
        }
    }

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
