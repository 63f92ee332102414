//! Interaction responses as a bot sends them: deferred callbacks filled in by editing
//! `@original`, follow-ups, `?with_response=true`, and the callbacks' exemption from the
//! global limits.

mod common;

use common::{Client, Rest, TOKEN, fast_sim, first_text_channel};
use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_sim::{Inject, Limit, SimConfig, SimHandle, Snowflake};

const LOADING: u64 = 1 << 7;

/// Injects a slash command in `channel`; returns its id and token.
fn interaction(sim: &SimHandle, channel: u64) -> (String, String) {
    let created = sim
        .inject(&Inject::Interaction {
            channel_id: Snowflake(channel),
            command: "ping".into(),
            bot_id: None,
            user_id: None,
        })
        .expect("interaction");
    (
        created["id"].as_str().expect("id").to_owned(),
        created["token"].as_str().expect("token").to_owned(),
    )
}

/// A request without Authorization, as discord.js sends interaction responses.
async fn call(
    sim: &SimHandle,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}{path}", sim.api_url()));
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(b.to_string());
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let text = res.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    };
    (status, v)
}

#[tokio::test]
async fn a_deferred_response_is_a_loading_message_that_editing_original_fills_in() {
    let sim = fast_sim().await;
    let (mut gw, ready) = Client::ready(&sim, TOKEN, 1 | (1 << 9) | (1 << 15), None).await;
    let app = ready["application"]["id"].as_str().expect("app").to_owned();
    let ch = first_text_channel(&sim, 0);
    let (id, token) = interaction(&sim, ch);
    let (s, _) = call(
        &sim,
        reqwest::Method::POST,
        &format!("/interactions/{id}/{token}/callback"),
        Some(json!({"type": 5})),
    )
    .await;
    assert_eq!(s, 204);
    let created = gw.dispatch("MESSAGE_CREATE").await["d"].clone();
    assert_eq!(created["content"], "");
    assert_ne!(created["flags"].as_u64().unwrap_or(0) & LOADING, 0);
    assert_eq!(created["webhook_id"], app.as_str());

    let original = format!("/webhooks/{app}/{token}/messages/@original");
    let (s, thinking) = call(&sim, reqwest::Method::GET, &original, None).await;
    assert_eq!(s, 200, "{thinking}");
    assert_eq!(thinking["id"], created["id"]);
    let (s, edited) = call(
        &sim,
        reqwest::Method::PATCH,
        &original,
        Some(json!({"content": "done thinking"})),
    )
    .await;
    assert_eq!(s, 200, "{edited}");
    assert_eq!(edited["content"], "done thinking");
    assert_eq!(
        edited["flags"].as_u64().map(|f| f & LOADING),
        Some(0),
        "the edit clears LOADING"
    );
    let update = gw.dispatch("MESSAGE_UPDATE").await["d"].clone();
    assert_eq!(
        (&update["id"], &update["content"]),
        (&created["id"], &json!("done thinking"))
    );
    let (s, now) = call(&sim, reqwest::Method::GET, &original, None).await;
    assert_eq!(
        (s, &now["content"]),
        (StatusCode::OK, &json!("done thinking"))
    );
}

#[tokio::test]
async fn follow_ups_always_return_the_message() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let (_, _, me) = rest.call("GET", "/users/@me", None).await;
    let app = me["id"].as_str().expect("id").to_owned();
    let ch = first_text_channel(&sim, 0);
    let (id, token) = interaction(&sim, ch);
    call(
        &sim,
        reqwest::Method::POST,
        &format!("/interactions/{id}/{token}/callback"),
        Some(json!({"type": 4, "data": {"content": "first"}})),
    )
    .await;
    for query in ["", "?wait=false"] {
        let (s, m) = call(
            &sim,
            reqwest::Method::POST,
            &format!("/webhooks/{app}/{token}{query}"),
            Some(json!({"content": format!("follow-up{query}")})),
        )
        .await;
        assert_eq!(s, 200, "a follow-up waits whatever the query: {m}");
        assert_eq!(m["content"], format!("follow-up{query}"));
        assert_eq!(m["webhook_id"], app.as_str());
        let mid = m["id"].as_str().expect("id");
        let (s, got) = call(
            &sim,
            reqwest::Method::GET,
            &format!("/webhooks/{app}/{token}/messages/{mid}"),
            None,
        )
        .await;
        assert_eq!((s, &got["id"]), (StatusCode::OK, &m["id"]));
    }
}

#[tokio::test]
async fn with_response_returns_the_callback_response_object() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    rest.call("GET", "/users/@me", None).await;
    let ch = first_text_channel(&sim, 0);
    let (id, token) = interaction(&sim, ch);
    let (s, v) = call(
        &sim,
        reqwest::Method::POST,
        &format!("/interactions/{id}/{token}/callback?with_response=true"),
        Some(json!({"type": 4, "data": {"content": "pong"}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["interaction"]["id"], id.as_str());
    assert_eq!(v["interaction"]["type"], 2);
    assert_eq!(v["interaction"]["response_message_loading"], false);
    assert_eq!(v["interaction"]["response_message_ephemeral"], false);
    assert_eq!(v["resource"]["type"], 4);
    assert_eq!(v["resource"]["message"]["content"], "pong");
    assert_eq!(
        v["interaction"]["response_message_id"],
        v["resource"]["message"]["id"]
    );

    let (id, token) = interaction(&sim, ch);
    let (s, v) = call(
        &sim,
        reqwest::Method::POST,
        &format!("/interactions/{id}/{token}/callback?with_response=true"),
        Some(json!({"type": 5, "data": {"flags": 64}})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["interaction"]["response_message_loading"], true);
    assert_eq!(v["interaction"]["response_message_ephemeral"], true);
    assert_eq!(v["resource"]["type"], 5);
    assert_eq!(
        v["resource"]["message"]["flags"].as_u64(),
        Some(LOADING | 64)
    );
}

#[tokio::test]
async fn callbacks_are_exempt_from_the_global_limits_per_token_and_per_ip() {
    let mut cfg = SimConfig::fast();
    let one = Limit {
        limit: 1,
        window_ms: 10_000,
    };
    cfg.rate_limits.global_per_token = one;
    cfg.rate_limits.global_per_ip = one;
    let sim = common::sim(cfg).await;
    let rest = Rest::new(&sim);
    assert_eq!(rest.call("GET", "/users/@me", None).await.0, 200);
    let (s, h, _) = rest.call("GET", "/users/@me", None).await;
    assert_eq!(s, 429);
    assert_eq!(h["x-ratelimit-global"], "true");
    let ch = first_text_channel(&sim, 0);

    // With the bot's token, whose global window is used up.
    let (id, token) = interaction(&sim, ch);
    let res = rest
        .http
        .post(format!(
            "{}/interactions/{id}/{token}/callback",
            sim.api_url()
        ))
        .header("Authorization", &rest.auth)
        .header("Content-Type", "application/json")
        .body(json!({"type": 4, "data": {"content": "authed"}}).to_string())
        .send()
        .await
        .expect("callback");
    assert_eq!(res.status(), 204);

    // Without a token, once the IP's global window is used up.
    let statuses = [
        call(&sim, reqwest::Method::GET, "/gateway", None).await.0,
        call(&sim, reqwest::Method::GET, "/gateway", None).await.0,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [200, 429]);
    let (id, token) = interaction(&sim, ch);
    let (s, v) = call(
        &sim,
        reqwest::Method::POST,
        &format!("/interactions/{id}/{token}/callback"),
        Some(json!({"type": 4, "data": {"content": "anonymous"}})),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(sim.counters_summary().rest.rate_limited_global, 2);
}
