//! The HTTP handler Discord posts interactions to: verify, answer PING, publish the
//! interaction as INTERACTION_CREATE on the bot's topics, and answer with the bot's callback
//! if it comes within the time, else with the deferral (see [`super::table`]).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_broker::Broker;

use super::table::{Kind, OpenInteractions};
use super::verify::{PublicKey, verify};
use crate::router::{Routed, Router, Scratch};

/// What the handler needs.
pub(crate) struct Endpoint {
    pub key: Option<PublicKey>,
    pub max_age: Duration,
    pub answer_within: Duration,
    pub table: Arc<OpenInteractions>,
    pub router: Arc<Router>,
    pub broker: Arc<dyn Broker>,
    /// The bot's shard count, for the shard an interaction's guild belongs to.
    pub shards: u32,
}

/// The fields of an interaction the endpoint reads.
#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    kind: u64,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    application_id: Option<String>,
    #[serde(default)]
    guild_id: Option<String>,
}

fn refuse(status: StatusCode, reason: &'static str, why: &dyn std::fmt::Display) -> Response {
    metrics::counter!("switchyard_interactions_refused_total", "reason" => reason).increment(1);
    tracing::warn!(reason, why = %why, "interaction request refused");
    let body = json!({"error": why.to_string()});
    (status, axum::Json(body)).into_response()
}

fn answered(kind: &'static str, answer: &'static str, body: Value) -> Response {
    metrics::counter!("switchyard_interactions_total", "kind" => kind, "answer" => answer)
        .increment(1);
    axum::Json(body).into_response()
}

/// Marks the interaction gone if the request is dropped before it is answered (Discord hung
/// up), so that a callback then goes to REST.
struct Pending<'a> {
    table: &'a OpenInteractions,
    id: u64,
    settled: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.table.gone(self.id);
        }
    }
}

/// `POST {interactions.path}`.
pub(crate) async fn handle(
    State(ep): State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(key) = &ep.key {
        let header = |name: &str| headers.get(name).map(|v| v.as_bytes());
        let now_s = crate::command::now_ms() / 1000;
        let (signature, timestamp) = (
            header("x-signature-ed25519"),
            header("x-signature-timestamp"),
        );
        if let Err(why) = verify(key, signature, timestamp, &body, now_s, ep.max_age) {
            // Discord checks that a bad signature gets a 401 before it accepts the URL.
            return refuse(StatusCode::UNAUTHORIZED, why.label(), &why);
        }
    }
    let head: Head = match serde_json::from_slice(&body) {
        Ok(head) => head,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "bad_payload", &e),
    };
    if head.kind == 1 {
        return answered("ping", "pong", json!({"type": 1}));
    }
    let Some(kind) = Kind::of(head.kind) else {
        let why = format!("unknown interaction type {}", head.kind);
        return refuse(StatusCode::BAD_REQUEST, "bad_payload", &why);
    };
    let snowflake = |s: &Option<String>| s.as_deref().and_then(|s| s.parse::<u64>().ok());
    let (Some(id), Some(app)) = (snowflake(&head.id), snowflake(&head.application_id)) else {
        let why = "an interaction needs a numeric id and application_id";
        return refuse(StatusCode::BAD_REQUEST, "bad_payload", &why);
    };
    let mut rx = match ep.table.open(id, app, kind) {
        Ok(rx) => rx,
        Err(replayed) => return refuse(StatusCode::UNAUTHORIZED, "replayed", &replayed),
    };
    let mut pending = Pending {
        table: &ep.table,
        id,
        settled: false,
    };
    let guild = snowflake(&head.guild_id);
    if let Err(why) = ep.publish(&body, id, guild).await {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "not_published", &why);
    }
    let answer = match tokio::time::timeout(ep.answer_within, &mut rx).await {
        Ok(Ok(answer)) => Some(answer),
        // the sender is dropped only once answered; keep the fallback
        Ok(Err(_)) | Err(_) => None,
    };
    if let Some(answer) = answer {
        ep.table.settle(id, false);
        pending.settled = true;
        return answered(kind.label(), "bot", answer);
    }
    if !ep.table.settle(id, true) {
        // the bot's answer came while the time ran out: it is the answer
        pending.settled = true;
        if let Ok(answer) = rx.try_recv() {
            return answered(kind.label(), "bot", answer);
        }
    }
    pending.settled = true;
    let label = match kind {
        Kind::Autocomplete => "no_choices",
        _ => "deferred",
    };
    tracing::info!(
        interaction = id,
        kind = kind.label(),
        after_ms = ep.answer_within.as_millis() as u64,
        "no answer from the bot in time; the endpoint answered for it"
    );
    answered(kind.label(), label, kind.fallback())
}

impl Endpoint {
    /// Publishes `body` as INTERACTION_CREATE on the bot's topics, as a gateway would: the
    /// topic from its template, the payload its envelope (or `d` alone for raw payloads).
    async fn publish(&self, body: &[u8], id: u64, guild: Option<u64>) -> Result<(), String> {
        let body = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let frame = format!(r#"{{"op":0,"s":null,"t":"INTERACTION_CREATE","d":{body}}}"#);
        let shard = guild.map_or(0, |g| ((g >> 22) % u64::from(self.shards.max(1))) as u32);
        // The envelope's id hashes the session: one per interaction, so that ids differ and a
        // second delivery of one interaction has the same id.
        let session = format!("http/{id}");
        let mut scratch = Scratch::default();
        let now = crate::command::now_ms();
        let routed = self
            .router
            .route(&frame, shard, &session, None, now, &mut scratch, None)
            .map_err(|e| e.to_string())?;
        let Routed::Publish { topic, payload, .. } = routed else {
            return Err("the bot's event filter drops INTERACTION_CREATE".into());
        };
        self.broker
            .publish(&topic, payload)
            .await
            .map_err(|e| format!("the broker refused it: {e}"))
    }
}
