//! Errors every backend shares.
//!
//! Every message that names a broker names it by its redacted URL (see [`crate::redact_url`]):
//! credentials never appear in an error or a log line.

/// Why a broker call failed.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The backend cannot do this; nothing was approximated.
    #[error("the {backend} broker does not support {what}")]
    Unsupported {
        /// The backend's name.
        backend: &'static str,
        /// What was asked for.
        what: &'static str,
    },
    /// The payload is larger than the backend accepts.
    #[error(
        "message too large: payload of {size} bytes is larger than the {backend} broker's limit of {max} bytes"
    )]
    TooLarge {
        /// The backend's name.
        backend: &'static str,
        /// The payload's size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// A group name that the backend cannot use.
    #[error("invalid group name {0:?}: use letters, digits, `-` and `_`")]
    InvalidGroup(String),
    /// The broker has shut down.
    #[error("the {0} broker is closed")]
    Closed(&'static str),
    /// The broker URL or an option is not usable.
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// The broker could not be reached (after the configured retries).
    #[error(
        "cannot reach the broker at {url} after {attempts} attempt(s): {detail} (check {hint})"
    )]
    Unreachable {
        /// The redacted URL.
        url: String,
        /// How many connection attempts were made.
        attempts: u32,
        /// The last failure.
        detail: String,
        /// What to check.
        hint: &'static str,
    },
    /// The broker refused our credentials.
    #[error(
        "authentication failed at the broker {url}: {detail} (check the user name and password or token in the URL)"
    )]
    Auth {
        /// The redacted URL.
        url: String,
        /// What the broker said.
        detail: String,
    },
    /// The connection was lost and the call could not be completed; the backend reconnects on
    /// its own.
    #[error("the connection to the {backend} broker is down: {detail}")]
    Disconnected {
        /// The backend's name.
        backend: &'static str,
        /// What happened.
        detail: String,
    },
    /// The topic cannot be published in this mode (for example it lies outside every durable
    /// stream's prefix).
    #[error("cannot publish on {topic}: {reason}")]
    Topic {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// The broker answered with an error.
    #[error("the {backend} broker answered with an error: {detail}")]
    Backend {
        /// The backend's name.
        backend: &'static str,
        /// What it said.
        detail: String,
    },
}

impl BrokerError {
    /// Whether trying again later may succeed: the broker was unreachable, the connection was
    /// down, or the broker answered with an error. A message that is too large, a topic the
    /// mode cannot take or a closed broker will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BrokerError::Unreachable { .. }
                | BrokerError::Disconnected { .. }
                | BrokerError::Backend { .. }
        )
    }

    /// A [`BrokerError::Backend`] from anything printable.
    pub(crate) fn backend(backend: &'static str, detail: impl std::fmt::Display) -> Self {
        BrokerError::Backend {
            backend,
            detail: detail.to_string(),
        }
    }
}
