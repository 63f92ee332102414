//! Broker URLs: which backend a URL selects, the durable-mode options it carries, and
//! redaction so that credentials never reach a log line or an error.

use crate::BrokerError;

/// The backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// `embedded`: the in-process broker.
    Embedded,
    /// `redis://` or `rediss://` (TLS).
    Redis,
    /// `nats://` (or `tls://`).
    Nats,
    /// `zmq://`: another Switchyard's ZeroMQ endpoints.
    Zmq,
}

/// A parsed broker URL.
///
/// ```
/// use switchyard_broker::BrokerUrl;
/// let url = BrokerUrl::parse("redis://:pw@127.0.0.1:6379/0?durable=streams&max_deliver=3")?;
/// assert!(url.durable());
/// assert_eq!(url.server(), "redis://:pw@127.0.0.1:6379/0");
/// assert_eq!(url.redacted(), "redis://:***@127.0.0.1:6379/0?durable=streams&max_deliver=3");
/// # Ok::<(), switchyard_broker::BrokerError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    kind: BackendKind,
    /// The URL without Switchyard's own query options, as the client library gets it.
    server: String,
    /// Switchyard's query options (`durable`, `prefixes`, `ack_wait_ms`, …).
    options: Vec<(String, String)>,
    original: String,
}

/// Query options Switchyard reads itself (and strips before the client library sees the URL).
const OWN_OPTIONS: &[&str] = &[
    "durable",
    "prefixes",
    "ack_wait_ms",
    "max_deliver",
    "max_in_flight",
    "max_len",
    "dedup_window_ms",
    "name",
    "replicas",
];

impl BrokerUrl {
    /// Parses `embedded`, `redis://…`, `rediss://…`, `nats://…` (`tls://…`) or `zmq://…`.
    pub fn parse(url: &str) -> Result<Self, BrokerError> {
        let url = url.trim();
        let kind = if url == "embedded" {
            BackendKind::Embedded
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            BackendKind::Redis
        } else if url.starts_with("nats://") || url.starts_with("tls://") {
            BackendKind::Nats
        } else if url.starts_with("zmq://") {
            BackendKind::Zmq
        } else {
            return Err(BrokerError::Config(format!(
                "{:?} is not a broker URL; expected \"embedded\", \"redis://host:port\", \"rediss://host:port\", \"nats://host:port\" or \"zmq://host:port\"",
                redact_url(url)
            )));
        };
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut options = Vec::new();
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            if OWN_OPTIONS.contains(&key) {
                options.push((key.to_owned(), value.to_owned()));
            } else {
                kept.push(pair);
            }
        }
        let server = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let parsed = BrokerUrl {
            kind,
            server,
            options,
            original: url.to_owned(),
        };
        if let Some(mode) = parsed.option("durable") {
            let expected = match kind {
                BackendKind::Redis => "streams",
                BackendKind::Nats => "jetstream",
                BackendKind::Embedded | BackendKind::Zmq => "",
            };
            if !matches!(mode, "" | "none" | "false") && mode != expected {
                return Err(BrokerError::Config(format!(
                    "durable={mode} in {}: this backend's durable mode is {:?}",
                    parsed.redacted(),
                    if expected.is_empty() {
                        "not available"
                    } else {
                        expected
                    }
                )));
            }
        }
        Ok(parsed)
    }

    /// The backend it selects.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// The URL for the client library (Switchyard's options removed). Contains credentials:
    /// never log it; log [`BrokerUrl::redacted`].
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The whole URL with credentials masked, for logs and errors.
    pub fn redacted(&self) -> String {
        redact_url(&self.original)
    }

    /// Whether the URL asks for durable mode (`durable=streams` or `durable=jetstream`).
    pub fn durable(&self) -> bool {
        matches!(self.option("durable"), Some("streams" | "jetstream"))
    }

    /// The value of one of Switchyard's query options.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BrokerUrl({})", self.redacted())
    }
}

/// Masks credentials in a URL: `redis://user:secret@host:6379/0` becomes
/// `redis://user:***@host:6379/0`, `nats://token@host` becomes `nats://***@host`, and the
/// values of `password`, `pass`, `token` and `nkey` query options become `***`. URLs without
/// credentials come back unchanged.
pub fn redact_url(url: &str) -> String {
    let (main, query) = match url.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (url, None),
    };
    // a cluster's servers, comma-separated, each with its own userinfo or none
    let mut out = main
        .split(',')
        .map(redact_server)
        .collect::<Vec<_>>()
        .join(",");
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _))
                    if ["password", "pass", "token", "nkey", "user_jwt"]
                        .contains(&k.to_ascii_lowercase().as_str()) =>
                {
                    format!("{k}=***")
                }
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// Masks the userinfo of one server: `scheme://user:pass@host/path` or `user:pass@host`.
fn redact_server(server: &str) -> String {
    let (scheme, rest) = match server.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, server),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return server.to_owned();
    };
    let user = match userinfo.split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{user}@{host}{path}"),
        None => format!("{user}@{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive() {
        assert_eq!(
            redact_url("nats://a:1,nats://u:pw@b:2,tok@c:3?durable=jetstream"),
            "nats://a:1,nats://u:***@b:2,***@c:3?durable=jetstream"
        );
        assert_eq!(redact_url("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact_url("rediss://u:pw@h:1"), "rediss://u:***@h:1");
        assert_eq!(redact_url("nats://token@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_url("nats://a:b@c@h:4222"), "nats://a:***@h:4222");
        assert_eq!(
            redact_url("redis://h:1/?password=pw&x=1"),
            "redis://h:1/?password=***&x=1"
        );
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("embedded"), "embedded");
    }

    #[test]
    fn urls_select_backends_and_keep_options_apart() {
        let url =
            BrokerUrl::parse("nats://u:p@h:4222?durable=jetstream&prefixes=a,b").expect("valid");
        assert_eq!(url.kind(), BackendKind::Nats);
        assert!(url.durable());
        assert_eq!(url.server(), "nats://u:p@h:4222");
        assert_eq!(url.option("prefixes"), Some("a,b"));
        assert!(!format!("{url:?}").contains(":p@"));
        assert_eq!(
            BrokerUrl::parse("embedded").expect("valid").kind(),
            BackendKind::Embedded
        );
        let e = BrokerUrl::parse("kafka://:secret@h").expect_err("unknown scheme");
        assert!(!e.to_string().contains("secret"), "{e}");
        let e = BrokerUrl::parse("redis://h?durable=jetstream").expect_err("wrong mode");
        assert!(e.to_string().contains("streams"), "{e}");
    }
}
