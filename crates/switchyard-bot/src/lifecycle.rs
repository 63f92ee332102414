//! Service control for one bot: IDENTIFY at start (on `control.gateway`), and SHUTDOWN,
//! REBOOT and the gateway's IDENTIFY answer read from `control.{bot}`. With a control key,
//! IDENTIFY is signed and only signed messages are obeyed.

use bytes::Bytes;
use switchyard_broker::{Broker, Topic};
use switchyard_core::control::auth::{self, ControlKey, Verifier};
use switchyard_core::control::{
    ControlMessage, ControlOp, Identify, IdentifyReply, JoinedGroup, Lifecycle, control_topic,
};
use switchyard_core::envelope::ENVELOPE_VERSION;

use crate::error::BotStartError;

/// Where services send IDENTIFY: the gateway's control topic.
pub const GATEWAY_CONTROL_TOPIC: &str = "control.gateway";

/// What a control message asks of this instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// Stop for good.
    Shutdown(Option<String>),
    /// Stop and start again.
    Reboot(Option<String>),
    /// The gateway accepted our IDENTIFY.
    Identified,
    /// The gateway refused our IDENTIFY.
    Refused(String),
    /// Not for us, or nothing to do.
    Ignore,
}

/// The control topic the bot listens on.
pub(crate) fn topic(bot: &str) -> Result<Topic, BotStartError> {
    control_topic(bot).map_err(|e| BotStartError::Config(format!("control topic: {e}")))
}

/// What IDENTIFY says of `bot`/`instance`: its version and the worker groups it joined.
pub(crate) fn hello(
    bot: &str,
    instance: &str,
    version: &str,
    groups: Vec<JoinedGroup>,
) -> Identify {
    Identify {
        name: bot.to_owned(),
        instance: instance.to_owned(),
        version: version.to_owned(),
        envelope_version: ENVELOPE_VERSION,
        groups,
    }
}

/// Sends IDENTIFY (`hello`) on the gateway's control topic.
pub(crate) async fn identify(
    broker: &dyn Broker,
    hello: &Identify,
    key: Option<&ControlKey>,
) -> Result<(), BotStartError> {
    let source = format!("{}/{}", hello.name, hello.instance);
    let msg = ControlMessage::new(source, ControlOp::Identify, hello)
        .map_err(|e| BotStartError::Config(e.to_string()))?;
    let topic =
        Topic::new(GATEWAY_CONTROL_TOPIC).map_err(|e| BotStartError::Config(e.to_string()))?;
    let payload = auth::encode(key, topic.as_str(), &msg);
    broker.publish(&topic, Bytes::from(payload)).await?;
    Ok(())
}

/// Reads one control message for `bot`/`instance`, received on `topic`.
pub(crate) fn interpret(
    verifier: &Verifier,
    topic: &str,
    payload: &[u8],
    bot: &str,
    instance: &str,
) -> Command {
    let msg = match verifier.check(topic, payload) {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(%bot, %topic, reason = %e, "refusing a control message");
            metrics::counter!("switchyard_control_rejected_total", "reason" => e.label())
                .increment(1);
            return Command::Ignore;
        }
    };
    let for_us =
        |l: &Lifecycle| l.name == bot && l.instance.as_deref().is_none_or(|i| i == instance);
    match msg.op {
        ControlOp::Shutdown | ControlOp::Reboot => match msg.payload::<Lifecycle>() {
            Ok(l) if for_us(&l) && msg.op == ControlOp::Shutdown => Command::Shutdown(l.reason),
            Ok(l) if for_us(&l) => Command::Reboot(l.reason),
            Ok(_) => Command::Ignore,
            Err(e) => {
                tracing::warn!(%bot, error = %e, "ignoring a control message");
                Command::Ignore
            }
        },
        // Our own IDENTIFY (if someone republishes it here) has no `ok`.
        ControlOp::Identify if msg.fields.contains_key("ok") => {
            let addressed = msg
                .fields
                .get("instance")
                .and_then(|v| v.as_str())
                .is_none_or(|i| i == instance);
            match msg.payload::<IdentifyReply>() {
                Ok(_) if !addressed => Command::Ignore,
                Ok(IdentifyReply { ok: true, .. }) => Command::Identified,
                Ok(IdentifyReply { ok: false, reason }) => {
                    Command::Refused(reason.unwrap_or_else(|| "no reason given".into()))
                }
                Err(_) => Command::Ignore,
            }
        }
        _ => Command::Ignore,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOPIC: &str = "control.echo";

    fn msg(op: ControlOp, d: serde_json::Value) -> Vec<u8> {
        ControlMessage::new("gateway", op, &d)
            .expect("object")
            .encode()
    }

    fn read(payload: &[u8], bot: &str, instance: &str) -> Command {
        interpret(&Verifier::new(None), TOPIC, payload, bot, instance)
    }

    #[test]
    fn lifecycle_ops_address_a_bot_or_one_instance() {
        let shut = msg(
            ControlOp::Shutdown,
            json!({"name": "echo", "reason": "deploy"}),
        );
        assert_eq!(
            read(&shut, "echo", "echo-1"),
            Command::Shutdown(Some("deploy".into()))
        );
        assert_eq!(read(&shut, "other", "other-1"), Command::Ignore);
        let one = msg(
            ControlOp::Reboot,
            json!({"name": "echo", "instance": "echo-2"}),
        );
        assert_eq!(read(&one, "echo", "echo-1"), Command::Ignore);
        assert_eq!(read(&one, "echo", "echo-2"), Command::Reboot(None));
        assert_eq!(read(b"not json", "echo", "echo-1"), Command::Ignore);
    }

    #[test]
    fn with_a_key_only_signed_shutdowns_count() {
        let key = ControlKey::new(b"team");
        let verifier = Verifier::new(Some(key.clone()));
        let body = json!({"name": "echo"});
        let shut = ControlMessage::new("gateway", ControlOp::Shutdown, &body).expect("object");
        let plain = shut.encode();
        assert_eq!(
            interpret(&verifier, TOPIC, &plain, "echo", "e"),
            Command::Ignore
        );
        let forged = ControlKey::new(b"guess").sign(TOPIC, &shut);
        assert_eq!(
            interpret(&verifier, TOPIC, &forged, "echo", "e"),
            Command::Ignore
        );
        let signed = key.sign(TOPIC, &shut);
        assert_eq!(
            interpret(&verifier, TOPIC, &signed, "echo", "e"),
            Command::Shutdown(None)
        );
        assert_eq!(
            interpret(&verifier, TOPIC, &signed, "echo", "e"),
            Command::Ignore,
            "a replay"
        );
    }

    #[test]
    fn identify_answers() {
        let no = msg(
            ControlOp::Identify,
            json!({"ok": false, "reason": "bad key"}),
        );
        assert_eq!(read(&no, "echo", "e"), Command::Refused("bad key".into()));
        let yes = msg(ControlOp::Identify, json!({"ok": true}));
        assert_eq!(read(&yes, "echo", "e"), Command::Identified);
        let other = msg(ControlOp::Identify, json!({"ok": false, "instance": "e2"}));
        assert_eq!(read(&other, "echo", "e"), Command::Ignore);
    }
}
