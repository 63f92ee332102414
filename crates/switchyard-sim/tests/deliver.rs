//! Interactions the fake delivers to an HTTP endpoint, as Discord does: signed with the
//! fake's key (which an endpoint can check with the public half the fake shows), recorded
//! with the endpoint's answer, and the answer applied as Discord applies it, so that the
//! webhook routes work after it. Forged and replayed requests fail an endpoint's check.

mod common;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use common::{Client, TOKEN, fast_sim, first_text_channel};
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};
use switchyard_sim::{Delivered, Delivery, DeliveryKind, Signing, SimHandle, Snowflake};

/// An endpoint as an application writes it: checks the signature and the timestamp's age,
/// answers a PING with a PONG, defers a command and updates a component's message.
async fn endpoint(key: VerifyingKey) -> String {
    let key = Arc::new(key);
    let app = axum::Router::new().route(
        "/interactions",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let key = key.clone();
            async move {
                let header = |name| headers.get(name).map(|v| v.as_bytes().to_vec());
                let (Some(sig), Some(ts)) = (
                    header("x-signature-ed25519"),
                    header("x-signature-timestamp"),
                ) else {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!("no signature")));
                };
                let mut bytes = [0u8; 64];
                let signed = [ts.as_slice(), &body].concat();
                let valid = hex::decode_to_slice(&sig, &mut bytes).is_ok()
                    && key
                        .verify_strict(&signed, &Signature::from_bytes(&bytes))
                        .is_ok();
                let at: u64 = String::from_utf8_lossy(&ts).parse().unwrap_or(0);
                let now = switchyard_sim::now_ms() / 1000;
                if !valid || now.abs_diff(at) > 300 {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!("refused")));
                }
                let interaction: Value = serde_json::from_slice(&body).unwrap_or_default();
                let answer = match interaction["type"].as_u64() {
                    Some(1) => json!({"type": 1}),
                    Some(3) => json!({"type": 7, "data": {"content": "updated"}}),
                    _ => json!({"type": 5}),
                };
                (StatusCode::OK, axum::Json(answer))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/interactions")
}

fn delivery(url: &str, kind: DeliveryKind, channel: u64, signing: Signing) -> Delivery {
    Delivery {
        url: url.to_owned(),
        kind,
        channel_id: Some(Snowflake(channel)),
        name: Some("go".into()),
        value: None,
        bot_id: None,
        user_id: None,
        signing,
    }
}

async fn deliver(sim: &SimHandle, d: &Delivery) -> Delivered {
    sim.deliver(d).await.expect("delivered")
}

#[tokio::test]
async fn signed_deliveries_are_answered_recorded_and_applied() {
    let sim = fast_sim().await;
    let (_gw, ready) = Client::ready(&sim, TOKEN, 1, None).await;
    let app = ready["application"]["id"].as_str().expect("app").to_owned();
    let channel = first_text_channel(&sim, 0);
    let mut public = [0u8; 32];
    hex::decode_to_slice(sim.interactions_public_key(), &mut public).expect("64 hex digits");
    let url = endpoint(VerifyingKey::from_bytes(&public).expect("a public key")).await;

    let ping = deliver(
        &sim,
        &delivery(&url, DeliveryKind::Ping, channel, Signing::Valid),
    )
    .await;
    assert_eq!(
        (ping.status, ping.kind, &ping.body),
        (200, 1, &json!({"type": 1}))
    );

    // A command, deferred: a loading message, which editing @original fills in.
    let command = delivery(&url, DeliveryKind::Command, channel, Signing::Valid);
    let deferred = deliver(&sim, &command).await;
    assert_eq!(
        (deferred.status, &deferred.body),
        (200, &json!({"type": 5}))
    );
    let edit = reqwest::Client::new()
        .patch(format!(
            "{}/webhooks/{app}/{}/messages/@original",
            sim.api_url(),
            deferred.token
        ))
        .header("Content-Type", "application/json")
        .body(json!({"content": "done"}).to_string())
        .send()
        .await
        .expect("edit");
    assert_eq!(edit.status(), 200);
    assert!(sim.messages(channel).iter().any(|m| m["content"] == "done"));

    // A component: the interaction carries the bot's message, which the answer updates.
    let click = delivery(&url, DeliveryKind::Component, channel, Signing::Valid);
    let updated = deliver(&sim, &click).await;
    assert_eq!((updated.status, updated.kind), (200, 3));
    let messages = sim.messages(channel);
    let button = messages.iter().find(|m| m["content"] == "updated");
    assert!(button.is_some(), "{messages:?}");

    // What an impostor or a replay sends fails the endpoint's check.
    for signing in [Signing::WrongKey, Signing::Stale] {
        let forged = deliver(
            &sim,
            &delivery(&url, DeliveryKind::Command, channel, signing),
        )
        .await;
        assert_eq!(forged.status, 401, "{signing:?}");
    }

    // The record, also over the control API, with the key.
    let recorded = sim.delivered();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[1], deferred);
    let http = reqwest::Client::new();
    let listed: Vec<Delivered> = http
        .get(format!("{}/_sim/interactions", sim.http_url()))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(listed, recorded);
    let key: Value = http
        .get(format!("{}/_sim/interactions/key", sim.http_url()))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    assert_eq!(key["public_key"], sim.interactions_public_key());
    let posted: Value = http
        .post(format!("{}/_sim/interactions", sim.http_url()))
        .body(json!({"url": url, "type": "ping"}).to_string())
        .send()
        .await
        .expect("deliver")
        .json()
        .await
        .expect("json");
    assert_eq!(posted["body"], json!({"type": 1}));
    let bad = http
        .post(format!("{}/_sim/interactions", sim.http_url()))
        .body(json!({"url": url, "type": "command"}).to_string())
        .send()
        .await
        .expect("deliver");
    assert_eq!(bad.status(), 400, "a command needs its channel");
}
