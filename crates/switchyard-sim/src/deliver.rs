//! Delivering interactions to an HTTP endpoint, as Discord does for an application with an
//! interactions endpoint URL: a POST of the interaction object, signed with the fake's key
//! (`X-Signature-Ed25519` over the `X-Signature-Timestamp` bytes followed by the body); the
//! answer is recorded, and applied as Discord applies an interaction response (a message for
//! type 4, a loading message for 5, an edit for 7), so that the webhook routes work after it.

use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use switchyard_core::gateway_proto::frame::Snowflake;

use crate::SimError;
use crate::rest::messages::{create_loading_message, create_message, edit_message};
use crate::sim_api::{NewInteraction, new_interaction};
use crate::state::delivered::Delivered;
use crate::state::{Shared, lock};

/// How long the fake waits for an endpoint's answer (Discord gives up after 3 s; the fake
/// records late answers too, with their time).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which interaction to deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// 1 PING, which Discord sends to check an endpoint.
    Ping,
    /// 2 APPLICATION_COMMAND: the slash command `name`.
    Command,
    /// 3 MESSAGE_COMPONENT: a click on button `name` of a message the bot sent.
    Component,
    /// 4 APPLICATION_COMMAND_AUTOCOMPLETE: typing in option `query` of command `name`.
    Autocomplete,
    /// 5 MODAL_SUBMIT: modal `name` submitted with one text field.
    ModalSubmit,
}

/// How the request is signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signing {
    /// With the fake's key, now: what Discord sends.
    #[default]
    Valid,
    /// With another key: what an impostor sends (Discord sends such requests too, to check
    /// that an endpoint refuses them).
    WrongKey,
    /// With the fake's key and a timestamp ten minutes old: a replay.
    Stale,
}

/// An interaction to deliver to `url` (`POST /_sim/interactions`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    /// The endpoint, `http://…`.
    pub url: String,
    /// The interaction type.
    #[serde(rename = "type")]
    pub kind: DeliveryKind,
    /// The channel (every type but ping).
    #[serde(default)]
    pub channel_id: Option<Snowflake>,
    /// The command name, or the custom id of the button or modal (default `"ping"`).
    #[serde(default)]
    pub name: Option<String>,
    /// What the user typed: the autocomplete option's text, the modal's field.
    #[serde(default)]
    pub value: Option<String>,
    /// The bot (default: the only known bot).
    #[serde(default)]
    pub bot_id: Option<Snowflake>,
    /// The user (default: the first member of the guild).
    #[serde(default)]
    pub user_id: Option<Snowflake>,
    /// How the request is signed.
    #[serde(default)]
    pub signing: Signing,
}

/// Delivers `delivery` and records the answer (also when none came).
pub async fn deliver(shared: &Shared, delivery: &Delivery) -> Result<Delivered, SimError> {
    let made = make(shared, delivery)?;
    let body = made
        .as_ref()
        .map_or_else(|| ping(shared, delivery), |n| Ok(n.d.to_string()))?;
    let (id, token, kind) = match &made {
        Some(n) => (
            n.id.to_string(),
            n.token.clone(),
            n.d["type"].as_u64().unwrap_or(0),
        ),
        None => {
            let v: Value = serde_json::from_str(&body).unwrap_or_default();
            (
                v["id"].as_str().unwrap_or("").to_owned(),
                v["token"].as_str().unwrap_or("").to_owned(),
                1,
            )
        }
    };
    let now_s = crate::now_ms() / 1000;
    let (key, at) = match delivery.signing {
        Signing::Valid => (shared.deliveries.key.clone(), now_s),
        Signing::WrongKey => (SigningKey::from_bytes(&[0x5a; 32]), now_s),
        Signing::Stale => (shared.deliveries.key.clone(), now_s.saturating_sub(600)),
    };
    let timestamp = at.to_string();
    let mut signed = timestamp.clone().into_bytes();
    signed.extend_from_slice(body.as_bytes());
    let signature = hex::encode(key.sign(&signed).to_bytes());
    let started = Instant::now();
    let sent = reqwest::Client::new()
        .post(&delivery.url)
        .header("Content-Type", "application/json")
        .header(
            "User-Agent",
            "Discord-Interactions/1.0 (+https://discord.com)",
        )
        .header("X-Signature-Ed25519", signature)
        .header("X-Signature-Timestamp", timestamp)
        .timeout(ANSWER_TIMEOUT)
        .body(body)
        .send()
        .await;
    let mut record = Delivered {
        id,
        token,
        kind,
        url: delivery.url.clone(),
        status: 0,
        body: Value::Null,
        elapsed_ms: 0,
        error: None,
    };
    match sent {
        Ok(res) => {
            record.status = res.status().as_u16();
            let bytes = res.bytes().await.unwrap_or_default();
            record.body = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        }
        Err(e) => record.error = Some(e.to_string()),
    }
    record.elapsed_ms = started.elapsed().as_millis() as u64;
    if let Some(made) = &made
        && record.status == 200
    {
        apply(shared, made, &record.body);
    }
    shared.deliveries.record(record.clone());
    Ok(record)
}

/// The interaction of `delivery` (none for a PING), stored like the gateway's.
fn make(shared: &Shared, delivery: &Delivery) -> Result<Option<NewInteraction>, SimError> {
    let name = delivery.name.as_deref().unwrap_or("ping");
    let value = delivery.value.as_deref().unwrap_or("");
    let (kind, data) = match delivery.kind {
        DeliveryKind::Ping => return Ok(None),
        DeliveryKind::Command => (
            2,
            json!({"id": shared.ids.next().to_string(), "name": name, "type": 1}),
        ),
        DeliveryKind::Component => (3, json!({"custom_id": name, "component_type": 2})),
        DeliveryKind::Autocomplete => (
            4,
            json!({
                "id": shared.ids.next().to_string(), "name": name, "type": 1,
                "options": [{"name": "query", "type": 3, "value": value, "focused": true}],
            }),
        ),
        DeliveryKind::ModalSubmit => (
            5,
            json!({"custom_id": name, "components": [
                {"type": 1, "components": [{"type": 4, "custom_id": "text", "value": value}]},
            ]}),
        ),
    };
    let channel = delivery
        .channel_id
        .ok_or_else(|| SimError::BadRequest("channel_id is required but for a ping".into()))?;
    let mut made = new_interaction(
        shared,
        kind,
        channel,
        data,
        delivery.bot_id,
        delivery.user_id,
    )?;
    if kind == 3 {
        // the message the button is on, sent by the bot before
        let button = json!({"type": 1, "components": [{"type": 2, "style": 1, "label": name, "custom_id": name}]});
        let body = json!({"content": "click", "components": [button]});
        let user = made.bot.user();
        let m = create_message(shared, &made.channel, &user, &body, &[], None, 0)
            .map_err(|e| SimError::BadRequest(e.to_string()))?;
        let message_id = m["id"].as_str().and_then(|s| s.parse().ok());
        made.d["message"] = m;
        if let Some(i) = lock(&shared.store).interactions.get_mut(&made.token) {
            i.original = message_id;
        }
    }
    Ok(Some(made))
}

/// A PING as Discord sends it to check an endpoint.
fn ping(shared: &Shared, delivery: &Delivery) -> Result<String, SimError> {
    let bots = lock(&shared.bots);
    let app = match delivery.bot_id {
        Some(id) => bots.values().find(|b| b.identity.user_id == id.0),
        None => bots.values().next(),
    }
    .map_or(0, |b| b.identity.application_id);
    let id = shared.ids.next();
    Ok(
        json!({"id": id.to_string(), "application_id": app.to_string(), "type": 1,
        "token": format!("cGluZw{id:x}"), "version": 1})
        .to_string(),
    )
}

/// Applies an endpoint's answer as Discord applies an interaction response.
fn apply(shared: &Shared, made: &NewInteraction, answer: &Value) {
    let data = answer.get("data").cloned().unwrap_or_else(|| json!({}));
    let app = made.bot.identity.application_id;
    let user = made.bot.user();
    let original = lock(&shared.store)
        .interactions
        .get(&made.token)
        .and_then(|i| i.original);
    let created = match answer["type"].as_u64() {
        Some(4) => create_message(shared, &made.channel, &user, &data, &[], Some(app), 20)
            .ok()
            .and_then(|m| m["id"].as_str().and_then(|s| s.parse().ok())),
        Some(5) => {
            let flags = data["flags"].as_u64().unwrap_or(0);
            let m = create_loading_message(shared, &made.channel, &user, app, flags);
            m["id"].as_str().and_then(|s| s.parse().ok())
        }
        Some(7) => {
            if let Some(m) = original {
                let _ = edit_message(shared, &made.channel, m, user.id, &data, &[]);
            }
            original
        }
        _ => original,
    };
    if let Some(i) = lock(&shared.store).interactions.get_mut(&made.token) {
        i.acknowledged = true;
        i.original = created;
    }
}
