//! Service control, the amybot ops for real: services announce themselves with IDENTIFY on
//! `control.gateway` and get an answer on `control.{name}` (accepted, or refused with the
//! reason); the gateway keeps a [`Registry`] of live services, refreshed by repeated
//! IDENTIFYs, and can send SHUTDOWN and REBOOT to a service or one instance (a SHUTDOWN seen
//! on `control.{service}`, whoever sent it, takes the service off the registry). Beside it
//! runs the proxy mark ([`proxy`]).
//!
//! With a control key every control message the gateway reads must be signed with it
//! ([`switchyard_core::control::auth`]), and every one it sends is; refusals are logged and
//! counted in `switchyard_control_rejected_total{reason}`.
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
use switchyard_core::control::auth::{self, ControlKey, Refusal, Verifier};
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
    /// The key that signs every control message (`SWITCHYARD_CONTROL_KEY`); `None` accepts
    /// unsigned ones from anyone who can publish on the broker.
    #[serde(deserialize_with = "de::optional_secret")]
    pub key: Option<Secret>,
    /// Without a key, run anyway on a broker that is not on this machine (`false`: refuse to
    /// start, since anyone on the network who reaches the broker could then send SHUTDOWN
    /// or pose as the pool's coordinator).
    pub allow_unsigned_remote: bool,
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
            allow_unsigned_remote: false,
            service_ttl: Duration::from_secs(30),
            proxy: true,
        }
    }
}

/// The control loop and the proxy, running.
pub struct RunningControl {
    broker: Arc<dyn Broker>,
    key: Option<ControlKey>,
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
    let key = control_key(config.key.as_ref());
    if key.is_none() {
        tracing::warn!(
            "control.key is not set: control messages are not signed, and anyone who can publish on the broker may IDENTIFY, SHUTDOWN services or pose as the shard pool's coordinator; set control.key (or SWITCHYARD_CONTROL_KEY)"
        );
    }
    let mut tasks = Vec::new();
    {
        let (broker, registry) = (broker.clone(), registry.clone());
        let (key, verifier) = (key.clone(), Verifier::new(key.clone()));
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                handle(&*broker, &registry, key.as_ref(), &verifier, &msg.payload).await;
            }
        }));
    }
    {
        // A SHUTDOWN sent by anyone (`switchyard control`, another gateway) takes the service
        // off the registry at once, rather than when its TTL lapses.
        let pattern = Pattern::new("control.*").map_err(GatewayError::name("control pattern"))?;
        let mut sub = broker.subscribe(&pattern).await?;
        let (registry, verifier) = (registry.clone(), Verifier::new(key.clone()));
        tasks.push(tokio::spawn(async move {
            while let Some(msg) = sub.recv().await {
                if msg.topic.as_str() != GATEWAY_CONTROL_TOPIC {
                    forget_on_shutdown(&registry, &verifier, msg.topic.as_str(), &msg.payload);
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
        key,
        registry,
        proxied,
        tasks,
    })
}

/// The control key from the configured secret (an empty one is none).
pub fn control_key(secret: Option<&Secret>) -> Option<ControlKey> {
    secret
        .filter(|s| !s.is_empty())
        .map(|s| ControlKey::new(s.expose().as_bytes()))
}

/// Logs and counts a refused control message.
pub fn refused(topic: &str, refusal: &Refusal) {
    tracing::warn!(%topic, reason = %refusal, "refusing a control message");
    metrics::counter!("switchyard_control_rejected_total", "reason" => refusal.label())
        .increment(1);
}

/// Answers one message on `control.gateway`.
async fn handle(
    broker: &dyn Broker,
    registry: &Registry,
    key: Option<&ControlKey>,
    verifier: &Verifier,
    payload: &[u8],
) {
    let msg = match verifier.check(GATEWAY_CONTROL_TOPIC, payload) {
        Ok(m) => m,
        Err(refusal) => {
            refused(GATEWAY_CONTROL_TOPIC, &refusal);
            tell_unverified(broker, &refusal, payload).await;
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
                answer(broker, key, name, instance, Err(&reason)).await;
            }
            return;
        }
    };
    let refusal = if hello.envelope_version < ENVELOPE_VERSION {
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
        answer(
            broker,
            key,
            &hello.name,
            Some(&hello.instance),
            Err(&reason),
        )
        .await;
        return;
    }
    if registry.identified(&hello.name, &hello.instance, &hello.version, &hello.groups) {
        tracing::info!(service = %hello.name, instance = %hello.instance, version = %hello.version, "service identified");
    }
    metrics::counter!("switchyard_control_identify_total", "result" => "accepted").increment(1);
    answer(broker, key, &hello.name, Some(&hello.instance), Ok(())).await;
}

/// Tells the service named in an IDENTIFY that failed its signature check why, unsigned: a
/// service without a key (which checks nothing) learns that it needs one. A service that
/// holds a key refuses this answer (it is unsigned) and keeps its own warning. Replays get
/// no answer: the first one was answered.
async fn tell_unverified(broker: &dyn Broker, refusal: &Refusal, payload: &[u8]) {
    if !matches!(
        refusal,
        Refusal::Unsigned | Refusal::BadSignature | Refusal::Stale { .. }
    ) {
        return;
    }
    let Ok(msg) = ControlMessage::decode(payload) else {
        return;
    };
    if msg.op != ControlOp::Identify || msg.fields.contains_key("ok") {
        return;
    }
    let Some(name) = msg.fields.get("name").and_then(|v| v.as_str()) else {
        return;
    };
    let instance = msg.fields.get("instance").and_then(|v| v.as_str());
    let reason = format!("IDENTIFY refused: {refusal}; sign it with the gateway's control.key");
    answer(broker, None, name, instance, Err(&reason)).await;
}

/// Forgets the service (or instance) a SHUTDOWN on `control.{service}` addresses; anything
/// else on those topics (IDENTIFY answers, REBOOT, a service's own messages) is not ours.
fn forget_on_shutdown(registry: &Registry, verifier: &Verifier, topic: &str, payload: &[u8]) {
    // Only a SHUTDOWN is acted on, so only a SHUTDOWN is checked (and counted if refused).
    if !ControlMessage::decode(payload).is_ok_and(|m| m.op == ControlOp::Shutdown) {
        return;
    }
    let msg = match verifier.check(topic, payload) {
        Ok(msg) => msg,
        Err(refusal) => return refused(topic, &refusal),
    };
    if let Ok(target) = msg.payload::<Lifecycle>() {
        registry.forget(&target.name, target.instance.as_deref());
    }
}

/// Publishes the answer to IDENTIFY on `control.{name}`, signed with `key` if any.
async fn answer(
    broker: &dyn Broker,
    key: Option<&ControlKey>,
    name: &str,
    instance: Option<&str>,
    result: Result<(), &str>,
) {
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
            .publish(&topic, Bytes::from(auth::encode(key, topic.as_str(), &msg)))
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
        let key = self.key.as_ref();
        send(
            &*self.broker,
            key,
            ControlOp::Shutdown,
            name,
            instance,
            reason,
        )
        .await?;
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
        let key = self.key.as_ref();
        send(
            &*self.broker,
            key,
            ControlOp::Reboot,
            name,
            instance,
            reason,
        )
        .await
    }
}

/// Publishes SHUTDOWN or REBOOT for `name` on `control.{name}`, signed with `key` if any.
pub async fn send(
    broker: &dyn Broker,
    key: Option<&ControlKey>,
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
    let payload = auth::encode(key, topic.as_str(), &msg);
    broker.publish(&topic, Bytes::from(payload)).await?;
    Ok(())
}
