//! [`BrokerOptions`] as a configuration file writes it: one flat table (the `[broker]`
//! section) whose keys and defaults are defined here, beside the type, and nowhere else.

use std::time::Duration;

use serde::Deserialize;

use crate::{BrokerOptions, DurableOptions, RetryPolicy};

/// The flat keys of [`BrokerOptions`]; read with `serde(try_from)`.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct OptionKeys {
    /// Messages buffered per subscription.
    subscriber_buffer: usize,
    /// The largest payload accepted, in bytes.
    max_payload: usize,
    /// Attempts to connect at start (0: retry forever).
    connect_attempts: u32,
    /// The first delay between connection attempts (ms); doubles up to `retry_max_ms`.
    retry_initial_ms: u64,
    /// The longest delay between connection attempts (ms).
    retry_max_ms: u64,
    /// Messages buffered while the connection is down.
    outage_buffer: usize,
    /// Durable mode (Redis Streams, NATS JetStream).
    durable: bool,
    /// Topic prefixes stored in durable mode.
    durable_prefixes: Vec<String>,
    /// How long a delivery may stay unacknowledged (ms).
    ack_wait_ms: u64,
    /// Deliveries before a message is dead-lettered.
    max_deliver: u32,
    /// Deliveries one member may hold unacknowledged.
    max_in_flight: u32,
    /// Messages kept per stream.
    max_len: u64,
    /// How long a message id is remembered for deduplication (ms).
    dedup_window_ms: u64,
    /// The name of the streams.
    durable_name: String,
    /// Copies JetStream keeps of each stream (3 on a cluster).
    durable_replicas: u32,
}

impl Default for OptionKeys {
    fn default() -> Self {
        let o = BrokerOptions::default();
        OptionKeys {
            subscriber_buffer: o.subscriber_buffer,
            max_payload: o.max_payload,
            connect_attempts: o.retry.attempts.unwrap_or(0),
            retry_initial_ms: millis(o.retry.initial),
            retry_max_ms: millis(o.retry.max),
            outage_buffer: o.outage_buffer,
            durable: o.durable.enabled,
            durable_prefixes: o.durable.prefixes,
            ack_wait_ms: millis(o.durable.ack_wait),
            max_deliver: o.durable.max_deliver,
            max_in_flight: o.durable.max_in_flight,
            max_len: o.durable.max_len,
            dedup_window_ms: millis(o.durable.dedup_window),
            durable_name: o.durable.name,
            durable_replicas: o.durable.replicas,
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl TryFrom<OptionKeys> for BrokerOptions {
    type Error = String;

    fn try_from(k: OptionKeys) -> Result<Self, String> {
        if k.retry_initial_ms == 0 || k.retry_max_ms < k.retry_initial_ms {
            return Err(
                "retry_initial_ms must be above 0 and retry_max_ms at least as large".into(),
            );
        }
        if k.subscriber_buffer == 0 {
            return Err("subscriber_buffer must be at least 1".into());
        }
        let options = BrokerOptions {
            retry: RetryPolicy {
                initial: Duration::from_millis(k.retry_initial_ms),
                max: Duration::from_millis(k.retry_max_ms),
                attempts: (k.connect_attempts > 0).then_some(k.connect_attempts),
            },
            outage_buffer: k.outage_buffer,
            max_payload: k.max_payload,
            subscriber_buffer: k.subscriber_buffer,
            durable: DurableOptions {
                enabled: k.durable,
                prefixes: k.durable_prefixes,
                ack_wait: Duration::from_millis(k.ack_wait_ms),
                max_deliver: k.max_deliver,
                max_in_flight: k.max_in_flight,
                max_len: k.max_len,
                dedup_window: Duration::from_millis(k.dedup_window_ms),
                name: k.durable_name,
                replicas: k.durable_replicas,
            },
            ..BrokerOptions::default()
        };
        options
            .durable
            .validate()
            .map_err(|e| format!("durable_*: {e}"))?;
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_read_back_as_the_defaults() {
        let read = BrokerOptions::try_from(OptionKeys::default()).expect("valid");
        assert_eq!(read, BrokerOptions::default());
    }
}
