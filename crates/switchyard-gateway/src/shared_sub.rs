//! Subscriptions that every gateway process on a broker shares, so that each message is
//! handled by one of them: a keyed group (see `switchyard_broker::keyed`), and on a broker
//! without keyed groups (a custom [`Broker`]) a plain subscription with a warning.

use switchyard_broker::{Broker, BrokerError, PartitionKey, Pattern, Subscription};

/// Joins the keyed group `group` on `pattern` by `key`. `what` names the duty in the warning
/// logged when the broker has no keyed groups (every process then handles every message).
pub(crate) async fn subscribe_shared(
    broker: &dyn Broker,
    pattern: &Pattern,
    group: &str,
    key: PartitionKey,
    what: &str,
) -> Result<Subscription, BrokerError> {
    match broker.subscribe_keyed(pattern, group, key).await {
        Err(BrokerError::Unsupported {
            backend,
            what: missing,
        }) => {
            tracing::warn!(
                backend,
                group,
                "the broker has no {missing}: every gateway process reading {pattern} does {what} for each message (run one)"
            );
            broker.subscribe(pattern).await
        }
        other => other,
    }
}
