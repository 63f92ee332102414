//! One IRC network's settings (`[[irc]]` in `switchyard run`'s configuration), with their
//! defaults and checks. Secrets are [`Secret`]s, which never print.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::names;

/// A password: readable with [`Secret::expose`], printed as `***`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// SASL PLAIN credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaslConfig {
    /// The account name.
    pub username: String,
    /// The password, here or (better) in the environment variable `password_env` names.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

impl SaslConfig {
    /// The password, from the file or the environment.
    pub fn password(&self) -> Result<Secret, String> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        let Some(var) = &self.password_env else {
            return Err("sasl needs password or password_env".into());
        };
        std::env::var(var)
            .map(Secret)
            .map_err(|_| format!("sasl.password_env names {var}, which is not set"))
    }
}

/// One `[[irc]]` entry: a connection to one IRC network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IrcConfig {
    /// The short name topics carry: `inbound.irc.{network}.…` (letters, digits, `-`, `_`;
    /// at most 32).
    pub network: String,
    /// `host:port` of the server.
    pub server: String,
    /// Connect with TLS (the server's certificate checked against Mozilla's roots, or
    /// `tls_ca`).
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of the certificates to trust instead of Mozilla's roots: a private
    /// network's own CA, or a server's self-signed certificate.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The nick; when taken, `_` is appended (up to three times), then digits.
    pub nick: String,
    /// The user name of `USER` (default: the nick).
    #[serde(default)]
    pub username: Option<String>,
    /// The real name of `USER` (default: `switchyard`).
    #[serde(default)]
    pub realname: Option<String>,
    /// The server password (`PASS`), if the server wants one.
    #[serde(default)]
    pub password: Option<Secret>,
    /// SASL PLAIN, negotiated with `CAP` before registering; the connection gives up (and
    /// retries later) rather than go on unauthenticated.
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
    /// The channels to join, and join again after a reconnect, a kick or a netsplit.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Flood control: each line sent costs this long (`docs/irc.md`).
    #[serde(default = "defaults::send_interval_ms")]
    pub send_interval_ms: u64,
    /// Flood control: lines that may go at once after a quiet spell.
    #[serde(default = "defaults::send_burst")]
    pub send_burst: u32,
    /// Lines waiting to be sent; beyond it outbound messages are refused (`queue_full`).
    #[serde(default = "defaults::send_queue")]
    pub send_queue: usize,
    /// The longest wait between reconnection attempts (they start at 1 s and double).
    #[serde(default = "defaults::reconnect_max_ms")]
    pub reconnect_max_ms: u64,
    /// After this long without a line from the server, PING it; after as long again
    /// without an answer, reconnect. A connection not registered after this long is
    /// given up too.
    #[serde(default = "defaults::ping_interval_ms")]
    pub ping_interval_ms: u64,
}

/// The defaults, in one place.
mod defaults {
    pub(super) fn send_interval_ms() -> u64 {
        2000
    }
    pub(super) fn send_burst() -> u32 {
        5
    }
    pub(super) fn send_queue() -> usize {
        1000
    }
    pub(super) fn reconnect_max_ms() -> u64 {
        60_000
    }
    pub(super) fn ping_interval_ms() -> u64 {
        120_000
    }
}

impl IrcConfig {
    /// A network with every default: `network` at `server` as `nick`.
    pub fn new(network: &str, server: &str, nick: &str) -> Self {
        IrcConfig {
            network: network.to_owned(),
            server: server.to_owned(),
            tls: false,
            tls_ca: None,
            nick: nick.to_owned(),
            username: None,
            realname: None,
            password: None,
            sasl: None,
            channels: Vec::new(),
            send_interval_ms: defaults::send_interval_ms(),
            send_burst: defaults::send_burst(),
            send_queue: defaults::send_queue(),
            reconnect_max_ms: defaults::reconnect_max_ms(),
            ping_interval_ms: defaults::ping_interval_ms(),
        }
    }

    /// Checks what types cannot; the message names the key (without the `irc.` prefix).
    pub fn validate(&self) -> Result<(), String> {
        let net = &self.network;
        if net.is_empty()
            || net.len() > 32
            || !net
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "network {net:?}: letters, digits, `-` and `_` only, 1 to 32 of them (it is a topic segment)"
            ));
        }
        let port = self.server.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
        if !matches!(port, Some(Ok(p)) if p > 0) {
            return Err(format!(
                "server {:?} of network {net}: must be host:port",
                self.server
            ));
        }
        let bad_word = |s: &str| s.is_empty() || s.contains([' ', '\r', '\n', '\0', ',']);
        if bad_word(&self.nick) || names::is_channel(&self.nick) || self.nick.starts_with(':') {
            return Err(format!("nick {:?} of network {net}: not a nick", self.nick));
        }
        if let Some(u) = &self.username
            && bad_word(u)
        {
            return Err(format!("username {u:?} of network {net}: not a user name"));
        }
        for c in &self.channels {
            if bad_word(c) || !names::is_channel(c) {
                return Err(format!(
                    "channels of network {net}: {c:?} is not a channel name (#name)"
                ));
            }
        }
        if self.tls_ca.is_some() && !self.tls {
            return Err(format!("tls_ca of network {net} is set but tls is not"));
        }
        if let Some(sasl) = &self.sasl {
            sasl.password().map_err(|e| format!("network {net}: {e}"))?;
        }
        if self.send_interval_ms == 0 || self.send_burst == 0 || self.send_queue == 0 {
            return Err(format!(
                "send_interval_ms, send_burst and send_queue of network {net} must be at least 1"
            ));
        }
        if self.ping_interval_ms < 1000 {
            return Err(format!(
                "ping_interval_ms of network {net} must be at least 1000"
            ));
        }
        Ok(())
    }

    pub(crate) fn send_interval(&self) -> Duration {
        Duration::from_millis(self.send_interval_ms)
    }

    pub(crate) fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub(crate) fn reconnect_max(&self) -> Duration {
        Duration::from_millis(self.reconnect_max_ms.max(1000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_key_and_secrets_never_print() {
        let mut c = IrcConfig::new("libera", "irc.libera.chat:6697", "sybot");
        c.channels = vec!["#rust".into(), "&local".into()];
        c.validate().expect("valid");
        c.sasl = Some(SaslConfig {
            username: "sybot".into(),
            password: Some("hunter2".into()),
            password_env: None,
        });
        c.validate().expect("valid");
        assert!(!format!("{c:?}").contains("hunter2"));
        for (bad, key) in [
            (IrcConfig::new("a.b", "h:1", "n"), "network"),
            (IrcConfig::new("a", "h", "n"), "server"),
            (IrcConfig::new("a", "h:1", "#n"), "nick"),
            (IrcConfig::new("a", "h:1", "n m"), "nick"),
        ] {
            let e = bad.validate().expect_err(key);
            assert!(e.contains(key), "{e}");
        }
        let mut c = IrcConfig::new("a", "h:1", "n");
        c.channels = vec!["rust".into()];
        assert!(c.validate().expect_err("channel").contains("channels"));
        c.channels.clear();
        c.sasl = Some(SaslConfig {
            username: "u".into(),
            password: None,
            password_env: Some("SWITCHYARD_IRC_TEST_UNSET_VARIABLE".into()),
        });
        assert!(c.validate().expect_err("unset").contains("not set"));
    }
}
