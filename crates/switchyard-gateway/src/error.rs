//! Typed errors of the gateway.

use crate::session::SessionStoreError;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The configuration is unusable; the text names the setting.
    #[error("invalid gateway configuration: {0}")]
    Config(String),
    /// `GET /gateway/bot` failed.
    #[error("GET /gateway/bot failed: {0}")]
    GatewayBot(String),
    /// The broker refused a subscription.
    #[error("broker: {0}")]
    Broker(#[from] switchyard_broker::BrokerError),
    /// The session store failed.
    #[error(transparent)]
    Session(#[from] SessionStoreError),
}
