//! The HTTP routes of the test-control API under `/_sim/`, one function each: events,
//! faults, counters, reset, the world, load, scenarios, the churn and interactions delivered
//! to an HTTP endpoint. Errors are 400 with
//! `{"error": "..."}`; an unknown route is Discord's 404.

use std::sync::Arc;

use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::counters::counters;
use crate::error::SimError;
use crate::load::LoadSpec;
use crate::rest::error::{ApiError, json_response};
use crate::scenario::{Scenario, ScenarioFormat};
use crate::sim_api::{Fault, Inject, fault, inject};
use crate::sim_churn::{ChurnSpec, churn};
use crate::state::Shared;

/// Serves one request under `/_sim/`; `op` is the path after it.
pub async fn serve(
    shared: &Arc<Shared>,
    method: &Method,
    op: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    match (method.as_str(), op.trim_end_matches('/')) {
        ("POST", "events") => post_event(shared, body),
        ("POST", "faults") => post_fault(shared, body),
        ("GET", "counters") => get_counters(shared),
        ("POST", "reset") => post_reset(shared),
        ("GET", "world") => get_world(shared),
        ("POST", "load") => post_load(shared, body).await,
        ("POST", "scenario") => post_scenario(shared, headers, body),
        ("POST", "load/stop") => post_load_stop(shared).await,
        ("POST", "churn") => post_churn(shared, body),
        ("GET", "state") => get_state(shared),
        ("POST", "interactions") => post_interaction(shared, body).await,
        ("GET", "interactions") => ok(&json!(shared.deliveries.answers())),
        ("GET", "interactions/key") => ok(&json!({"public_key": shared.deliveries.public_key()})),
        _ => ApiError::NotFound.into_response(),
    }
}

/// A 400 with `{"error": msg}`.
pub fn bad(msg: impl std::fmt::Display) -> Response {
    json_response(StatusCode::BAD_REQUEST, &json!({"error": msg.to_string()}))
}

fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// `POST /_sim/events`: an [`Inject`]; answers what was created.
fn post_event(shared: &Shared, body: &[u8]) -> Response {
    match serde_json::from_slice::<Inject>(body) {
        Ok(e) => inject(shared, &e).map_or_else(bad, |v| ok(&v)),
        Err(e) => bad(e),
    }
}

/// `POST /_sim/interactions`: a [`crate::Delivery`]; answers the endpoint's answer.
async fn post_interaction(shared: &Shared, body: &[u8]) -> Response {
    match serde_json::from_slice::<crate::Delivery>(body) {
        Ok(d) => match crate::deliver::deliver(shared, &d).await {
            Ok(answer) => ok(&json!(answer)),
            Err(e) => bad(e),
        },
        Err(e) => bad(e),
    }
}

/// `POST /_sim/faults`: a [`Fault`]; answers how many it affected.
fn post_fault(shared: &Shared, body: &[u8]) -> Response {
    match serde_json::from_slice::<Fault>(body) {
        Ok(f) => fault(shared, &f).map_or_else(bad, |n| ok(&json!({"affected": n}))),
        Err(e) => bad(e),
    }
}

/// `GET /_sim/counters`: every counter.
fn get_counters(shared: &Shared) -> Response {
    ok(&serde_json::to_value(counters(shared)).unwrap_or(Value::Null))
}

/// `POST /_sim/reset`.
fn post_reset(shared: &Shared) -> Response {
    shared.reset();
    ok(&json!({"reset": true}))
}

/// `GET /_sim/world`: the ids and names of the guilds, their channels and members.
fn get_world(shared: &Shared) -> Response {
    ok(&json!({
        "guilds": shared.world.guilds.iter().map(|g| json!({
            "id": g.id.to_string(), "name": g.name,
            "channels": g.channels.iter().map(|c| json!({"id": c.id.to_string(), "name": c.name, "type": c.kind})).collect::<Vec<_>>(),
            "members": g.members.iter().map(|m| m.user.id.to_string()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    }))
}

/// `POST /_sim/churn`: a [`ChurnSpec`], run to its end; answers its
/// [`ChurnReport`](crate::ChurnReport).
fn post_churn(shared: &Shared, body: &[u8]) -> Response {
    match serde_json::from_slice::<ChurnSpec>(body) {
        Ok(spec) => churn(shared, &spec)
            .map_or_else(bad, |r| ok(&serde_json::to_value(r).unwrap_or(Value::Null))),
        Err(e) => bad(e),
    }
}

/// `GET /_sim/state`: the churn's live state (every guild as its GUILD_CREATE, with every
/// member and presence, and an outage's state kept; the channels' last messages); 400
/// before any churn.
fn get_state(shared: &Shared) -> Response {
    match crate::sim_churn::state(shared) {
        Some(state) => ok(&state),
        None => bad("no churn yet: POST /_sim/churn first"),
    }
}

/// `POST /_sim/load`: a [`LoadSpec`] (an empty body is the default one); replaces a load
/// started before.
async fn post_load(shared: &Arc<Shared>, body: &[u8]) -> Response {
    let spec = if body.is_empty() { b"{}" } else { body };
    match serde_json::from_slice::<LoadSpec>(spec) {
        Ok(spec) => {
            let load = crate::load::start(shared.clone(), spec);
            let mean = load.mean_frame_size;
            if let Some(old) = shared.load.lock().await.replace(load) {
                old.stop().await;
            }
            ok(&json!({"started": true, "mean_frame_size": mean}))
        }
        Err(e) => bad(e),
    }
}

/// `POST /_sim/load/stop`: answers how many events the load produced.
async fn post_load_stop(shared: &Shared) -> Response {
    let produced = match shared.load.lock().await.take() {
        Some(load) => load.stop().await,
        None => 0,
    };
    ok(&json!({"produced": produced}))
}

/// `POST /_sim/scenario`: a [`Scenario`], run in the background.
fn post_scenario(shared: &Arc<Shared>, headers: &HeaderMap, body: &[u8]) -> Response {
    match scenario_body(headers, body) {
        Ok(scenario) => {
            let shared = shared.clone();
            let steps = scenario.steps.len();
            tokio::spawn(async move {
                if let Err(e) = scenario.run(&shared).await {
                    tracing::warn!(error = %e, "scenario failed");
                }
            });
            ok(&json!({"started": true, "steps": steps}))
        }
        Err(e) => bad(e),
    }
}

/// A scenario posted to `/_sim/scenario`: TOML when Content-Type is `application/toml`,
/// else JSON.
fn scenario_body(headers: &HeaderMap, body: &[u8]) -> Result<Scenario, SimError> {
    let toml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("application/toml"));
    let format = if toml {
        ScenarioFormat::Toml
    } else {
        ScenarioFormat::Json
    };
    let text = std::str::from_utf8(body).map_err(|e| SimError::ScenarioParse {
        path: "request body".into(),
        message: e.to_string(),
    })?;
    Scenario::parse_as(text, format, "request body")
}
