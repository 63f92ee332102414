//! The proxy mark of the amybot gateway, made dot-native: a message published on
//! `gateway-proxy.{source}.{topic…}` is checked, counted for `source`, and republished
//! unchanged on `{topic…}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchyard_broker::{Broker, Message, Subscription, Topic};
use switchyard_core::control::{PROXY_PREFIX, proxied};

/// Messages republished so far, per source.
pub type ProxyCounts = Arc<Mutex<BTreeMap<String, u64>>>;

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
        let source = p.source.to_owned();
        metrics::counter!("switchyard_gateway_proxied_total", "source" => source.clone())
            .increment(1);
        *counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(source)
            .or_insert(0) += 1;
    }
}
