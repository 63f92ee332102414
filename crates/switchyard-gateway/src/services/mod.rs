//! Service control, the amybot ops for real: services announce themselves with IDENTIFY on
//! `control.gateway` and get an answer on `control.{name}` (accepted, or refused with the
//! reason); the gateway keeps a [`Registry`] of live services, refreshed by repeated
//! IDENTIFYs, and can send SHUTDOWN and REBOOT to a service or one instance (a SHUTDOWN seen
//! on `control.{service}`, whoever sent it, takes the service off the registry). Beside it
//! runs the proxy mark ([`proxy`]).
//!
//! One control loop serves a whole process, whatever the number of bots in it.

pub mod proxy;
mod registry;

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use switchyard_broker::{Broker, PartitionKey, Pattern, Topic};
use switchyard_core::control::{ControlMessage, ControlOp, Identify, Lifecycle, control_topic};
use switchyard_core::envelope::ENVELOPE_VERSION;
use tokio::task::JoinHandle;

pub use proxy::ProxyCounts;
pub use registry::{Registry, ServiceEntry};

use crate::config::de;
use crate::error::GatewayError;
use crate::secret::Secret;

/// The keyed group in which every gateway process reads `gateway-proxy.>`.
pub const PROXY_GROUP: &str = "gateway-proxy";

/// Where services send IDENTIFY.
pub const GATEWAY_CONTROL_TOPIC: &str = "control.gateway";

/// How service control behaves; as a TOML table, the `[control]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ControlConfig {
    /// The key services must present in IDENTIFY (`SWITCHYARD_CONTROL_KEY`); `None` accepts
    /// any key.
    #[serde(deserialize_with = "de::optional_secret")]
    pub key: Option<Secret>,
    /// How long a service stays registered without identifying again (`service_ttl_ms`).
    #[serde(rename = "service_ttl_ms", deserialize_with = "de::millis_nonzero")]
    pub service_ttl: Duration,
    /// Republish `gateway-proxy.{source}.{topic…}` on `{topic…}`.
    pub proxy: bool,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            key: None,
            service_ttl: Duration::from_secs(30),
            proxy: true,
        }
    }
}

/// The control loop and the proxy, running.
pub struct RunningControl {
    broker: Arc<dyn Broker>,
    registry: Registry,
    proxied: ProxyCounts,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RunningControl {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Starts answering IDENTIFY on `control.gateway` and, if configured, the proxy.
pub async fn start(
    broker: Arc<dyn Broker>,
    config: ControlConfig,
) -> Result<RunningControl, GatewayError> {
    let pattern =
        Pattern::new(GATEWAY_CONTROL_TOPIC).map_err(GatewayError::name("control topic"))?;
    let mut sub = broker.subscribe(&pattern).await?;
    let registry = Registry::new(config.service_ttl);
    if config.key.is_none() {
        tracing::warn!(
            "control.key is not set: any service that can publish on control.gateway may IDENTIFY; set control.key (or SWITCHYARD_CONTROL_KEY) to require a shared key"
        );
    }
    let mut tasks = Vec::new();
    {
        let (broker, registry, key) = (broker.clone(), registry.clone(), config.key.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                handle(&*broker, &registry, key.as_ref(), &msg.payload).await;
            }
        }));
    }
    {
        // A SHUTDOWN sent by anyone (`switchyard control`, another gateway) takes the service
        // off the registry at once, rather than when its TTL lapses.
        let pattern = Pattern::new("control.*").map_err(GatewayError::name("control pattern"))?;
        let mut sub = broker.subscribe(&pattern).await?;
        let registry = registry.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                if msg.topic.as_str() != GATEWAY_CONTROL_TOPIC {
                    forget_on_shutdown(&registry, &msg.payload);
                }
            }
        }));
    }
    let proxied = ProxyCounts::default();
    if config.proxy {
        let pattern =
            Pattern::new("gateway-proxy.>").map_err(GatewayError::name("proxy pattern"))?;
        // One keyed group across every gateway process on the broker (keyed by source, so a
        // source's messages keep their order): each proxied message is republished once.
        let sub = crate::shared_sub::subscribe_shared(
            &*broker,
            &pattern,
            PROXY_GROUP,
            PartitionKey::Segment(1),
            "the republish",
        )
        .await;
        match sub {
            Ok(sub) => tasks.push(tokio::spawn(proxy::run(
                sub,
                broker.clone(),
                proxied.clone(),
            ))),
            // A durable broker carries only its prefixes: say so, and serve the rest.
            Err(e) => {
                tracing::warn!(error = %e, "gateway-proxy.> is not available on this broker; proxied messages are not republished")
            }
        }
    }
    Ok(RunningControl {
        broker,
        registry,
        proxied,
        tasks,
    })
}

/// Answers one message on `control.gateway`.
async fn handle(broker: &dyn Broker, registry: &Registry, key: Option<&Secret>, payload: &[u8]) {
    let msg = match ControlMessage::decode(payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "ignoring a malformed message on control.gateway");
            metrics::counter!("switchyard_control_rejected_total", "reason" => "malformed")
                .increment(1);
            return;
        }
    };
    // Answers (with `ok`) are ours; other ops are not for this topic.
    if msg.op != ControlOp::Identify || msg.fields.contains_key("ok") {
        return;
    }
    let hello = match msg.payload::<Identify>() {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(source = %msg.source, error = %e, "IDENTIFY without its fields");
            metrics::counter!("switchyard_control_rejected_total", "reason" => "malformed")
                .increment(1);
            if let Some(name) = msg.fields.get("name").and_then(|v| v.as_str()) {
                let instance = msg.fields.get("instance").and_then(|v| v.as_str());
                let reason = format!("malformed IDENTIFY: {e}");
                answer(broker, name, instance, Err(&reason)).await;
            }
            return;
        }
    };
    let refusal = if key.is_some_and(|k| !key_matches(k, &hello.key)) {
        Some("bad key: it does not match the gateway's control.key".to_owned())
    } else if hello.envelope_version < ENVELOPE_VERSION {
        Some(format!(
            "unsupported envelope version: this gateway publishes envelope v{ENVELOPE_VERSION}, the service reads up to v{}",
            hello.envelope_version
        ))
    } else {
        None
    };
    if let Some(reason) = refusal {
        tracing::warn!(service = %hello.name, instance = %hello.instance, %reason, "IDENTIFY refused");
        metrics::counter!("switchyard_control_identify_total", "result" => "refused").increment(1);
        answer(broker, &hello.name, Some(&hello.instance), Err(&reason)).await;
        return;
    }
    if registry.identified(&hello.name, &hello.instance, &hello.version) {
        tracing::info!(service = %hello.name, instance = %hello.instance, version = %hello.version, "service identified");
    }
    metrics::counter!("switchyard_control_identify_total", "result" => "accepted").increment(1);
    answer(broker, &hello.name, Some(&hello.instance), Ok(())).await;
}

/// Forgets the service (or instance) a SHUTDOWN on `control.{service}` addresses; anything
/// else on those topics (IDENTIFY answers, REBOOT, a service's own messages) is not ours.
fn forget_on_shutdown(registry: &Registry, payload: &[u8]) {
    let Ok(msg) = ControlMessage::decode(payload) else {
        return;
    };
    if msg.op != ControlOp::Shutdown {
        return;
    }
    if let Ok(target) = msg.payload::<Lifecycle>() {
        registry.forget(&target.name, target.instance.as_deref());
    }
}

/// Whether `presented` is the configured key, compared in constant time (for keys of the
/// same length) so that the answer's timing does not reveal how much of it was right.
fn key_matches(key: &Secret, presented: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    bool::from(key.expose().as_bytes().ct_eq(presented.as_bytes()))
}

/// Publishes the answer to IDENTIFY on `control.{name}`.
async fn answer(broker: &dyn Broker, name: &str, instance: Option<&str>, result: Result<(), &str>) {
    let mut d = match result {
        Ok(()) => json!({"ok": true}),
        Err(reason) => json!({"ok": false, "reason": reason}),
    };
    if let Some(instance) = instance {
        d["instance"] = json!(instance);
    }
    let sent = match (
        ControlMessage::new("gateway", ControlOp::Identify, &d),
        control_topic(name),
    ) {
        (Ok(msg), Ok(topic)) => broker
            .publish(&topic, Bytes::from(msg.encode()))
            .await
            .map_err(|e| e.to_string()),
        (Err(e), _) => Err(e.to_string()),
        (_, Err(e)) => Err(format!("service name {name:?}: {e}")),
    };
    if let Err(e) = sent {
        tracing::warn!(service = %name, error = %e, "cannot answer IDENTIFY");
    }
}

impl RunningControl {
    /// The live services.
    pub fn services(&self) -> Vec<ServiceEntry> {
        self.registry.snapshot()
    }

    /// Messages republished through the proxy mark, per source.
    pub fn proxied(&self) -> BTreeMap<String, u64> {
        self.proxied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A closure producing `{services, proxied}` for the status page.
    pub fn status_fn(&self) -> impl Fn() -> serde_json::Value + Send + Sync + 'static {
        let (registry, proxied) = (self.registry.clone(), self.proxied.clone());
        move || {
            let counts = proxied
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            json!({"services": registry.snapshot(), "proxied": counts})
        }
    }

    /// Tells `name` (one `instance`, or all of them) to shut down.
    pub async fn shutdown(
        &self,
        name: &str,
        instance: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), GatewayError> {
        send(&*self.broker, ControlOp::Shutdown, name, instance, reason).await?;
        self.registry.forget(name, instance);
        Ok(())
    }

    /// Tells `name` (one `instance`, or all of them) to restart.
    pub async fn reboot(
        &self,
        name: &str,
        instance: Option<&str>,
        reason: Option<&str>,
    ) -> Result<(), GatewayError> {
        send(&*self.broker, ControlOp::Reboot, name, instance, reason).await
    }
}

/// Publishes SHUTDOWN or REBOOT for `name` on `control.{name}`.
pub async fn send(
    broker: &dyn Broker,
    op: ControlOp,
    name: &str,
    instance: Option<&str>,
    reason: Option<&str>,
) -> Result<(), GatewayError> {
    let lifecycle = Lifecycle {
        name: name.to_owned(),
        instance: instance.map(str::to_owned),
        reason: reason.map(str::to_owned),
    };
    let msg = ControlMessage::new("gateway", op, &lifecycle)?;
    let topic: Topic =
        control_topic(name).map_err(GatewayError::name(format!("service name {name:?}")))?;
    broker.publish(&topic, Bytes::from(msg.encode())).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_must_match_exactly() {
        let key = Secret::new("s3cret");
        assert!(key_matches(&key, "s3cret"));
        for wrong in ["", "s3cre", "s3cret!", "S3cret", "x3cret"] {
            assert!(!key_matches(&key, wrong), "{wrong:?}");
        }
    }
}
