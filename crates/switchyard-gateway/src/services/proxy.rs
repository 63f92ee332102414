//! The proxy mark of the amybot gateway, made dot-native: a message published on
//! `gateway-proxy.{source}.{topic…}` is checked, counted for `source`, and republished
//! unchanged on `{topic…}`.
//!
//! Sources are named by publishers, so at most [`MAX_SOURCES`] distinct ones are counted by
//! name (in the metric's `source` label and on the status page); later ones count as
//! [`OTHER_SOURCE`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchyard_broker::{Broker, Message, Subscription, Topic};
use switchyard_core::control::{PROXY_PREFIX, proxied};

/// Messages republished so far, per source.
pub type ProxyCounts = Arc<Mutex<BTreeMap<String, u64>>>;

/// How many distinct sources are counted by name.
pub const MAX_SOURCES: usize = 64;

/// The name sources beyond the first [`MAX_SOURCES`] are counted under.
pub const OTHER_SOURCE: &str = "other";

/// Counts one message from `source`; returns the name it was counted under (`source`
/// itself, or [`OTHER_SOURCE`] once [`MAX_SOURCES`] other names are known).
pub fn count(counts: &mut BTreeMap<String, u64>, source: &str) -> String {
    let named_sources = counts.len() - usize::from(counts.contains_key(OTHER_SOURCE));
    let named = counts.contains_key(source) || named_sources < MAX_SOURCES;
    let label = if named && source != OTHER_SOURCE {
        source
    } else {
        OTHER_SOURCE
    };
    *counts.entry(label.to_owned()).or_insert(0) += 1;
    label.to_owned()
}

/// Why a proxied message was not republished.
fn reject(topic: &str, reason: &'static str, detail: &str) {
    tracing::warn!(%topic, reason, "{detail}");
    metrics::counter!("switchyard_gateway_proxy_rejected_total", "reason" => reason).increment(1);
}

/// Republishes what arrives on `sub` (a subscription to `gateway-proxy.>`) until it closes.
pub(crate) async fn run(mut sub: Subscription, broker: Arc<dyn Broker>, counts: ProxyCounts) {
    while let Some(Message { topic, payload }) = sub.recv().await {
        let Some(p) = proxied(topic.as_str()) else {
            reject(
                topic.as_str(),
                "no_target",
                "a proxied message needs gateway-proxy.{source}.{topic…}",
            );
            continue;
        };
        if p.target.split('.').next() == Some(PROXY_PREFIX) {
            reject(
                topic.as_str(),
                "loop",
                "a proxied message may not target gateway-proxy.>",
            );
            continue;
        }
        let Ok(target) = Topic::new(p.target) else {
            reject(
                topic.as_str(),
                "bad_target",
                "the target is not a valid topic",
            );
            continue;
        };
        if let Err(e) = broker.publish(&target, payload).await {
            reject(topic.as_str(), "publish_failed", &e.to_string());
            continue;
        }
        let label = count(
            &mut counts.lock().unwrap_or_else(PoisonError::into_inner),
            p.source,
        );
        metrics::counter!("switchyard_gateway_proxied_total", "source" => label).increment(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_sources_are_capped() {
        let mut counts = BTreeMap::new();
        for i in 0..MAX_SOURCES + 10 {
            assert_eq!(
                count(&mut counts, &format!("svc{i}")),
                if i < MAX_SOURCES {
                    format!("svc{i}")
                } else {
                    OTHER_SOURCE.to_owned()
                }
            );
        }
        // known sources keep their own name
        assert_eq!(count(&mut counts, "svc0"), "svc0");
        assert_eq!(counts.len(), MAX_SOURCES + 1);
        assert_eq!(counts["svc0"], 2);
        assert_eq!(counts[OTHER_SOURCE], 10);
        // a source literally named "other" shares the overflow count
        assert_eq!(count(&mut BTreeMap::new(), OTHER_SOURCE), OTHER_SOURCE);
    }
}
