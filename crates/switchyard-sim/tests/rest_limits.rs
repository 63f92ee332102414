//! REST rate limits as a client sees them: route buckets and their headers, forced and real
//! global 429s, per-IP limits without a token, and the counters over the control API.

mod common;

use common::{Rest, TOKEN, fast_sim, first_text_channel};
use serde_json::{Value, json};

#[tokio::test]
async fn rate_limits_headers_and_counters_over_http() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let ch = first_text_channel(&sim, 0);
    let mut statuses = Vec::new();
    let mut last = None;
    for i in 0..6 {
        let (s, h, v) = rest
            .call(
                "POST",
                &format!("/channels/{ch}/messages"),
                Some(json!({"content": format!("m{i}")})),
            )
            .await;
        statuses.push(s.as_u16());
        last = Some((h, v));
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429]);
    let (h, v) = last.expect("last");
    assert!(h.contains_key("retry-after") && h.contains_key("via"));
    assert_eq!(h["x-ratelimit-scope"], "user");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(v["global"], false);
    assert!(v.get("code").is_none(), "no `code` key on a route 429: {v}");
    assert!(
        v["retry_after"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r <= 5.0)
    );
    // another channel is another bucket
    let other = first_text_channel(&sim, 1);
    assert_eq!(
        rest.call(
            "POST",
            &format!("/channels/{other}/messages"),
            Some(json!({"content": "x"}))
        )
        .await
        .0,
        200
    );

    let http = reqwest::Client::new();
    let ctl = sim.http_url().to_owned() + "/_sim";
    let r: Value = http
        .post(format!("{ctl}/faults"))
        .body(r#"{"type":"rate_limit","count":2,"global":true,"retry_after_ms":50}"#)
        .send()
        .await
        .expect("fault")
        .json()
        .await
        .expect("json");
    assert_eq!(r["affected"], 2);
    let (s, h, v) = rest.call("GET", "/users/@me", None).await;
    assert_eq!((s.as_u16(), v["global"].as_bool()), (429, Some(true)));
    assert_eq!(h["x-ratelimit-global"], "true");
    assert_eq!(h["x-ratelimit-scope"], "global");
    rest.call("GET", "/users/@me", None).await;
    assert_eq!(rest.call("GET", "/users/@me", None).await.0, 200);

    let c: Value = http
        .get(format!("{ctl}/counters"))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert_eq!(c["rest"]["rate_limited_route"], 1);
    assert_eq!(c["rest"]["rate_limited_global"], 2);
    assert_eq!(c["rest"]["invalid_requests"], 3);
    let calls = c["rest_calls"].as_array().expect("calls");
    assert_eq!(calls[0]["method"], "POST");
    assert_eq!(calls[0]["path"], format!("/api/v10/channels/{ch}/messages"));
    assert_eq!(calls[0]["body"], r#"{"content":"m0"}"#);
    assert!(!c.to_string().contains(TOKEN), "tokens are never recorded");
    let summary = sim.counters_summary();
    assert!(summary.rest_calls.is_empty() && summary.rest.rate_limited_global == 2);

    let ev: Value = http
        .post(format!("{ctl}/events"))
        .body(
            json!({"type": "message", "channel_id": ch.to_string(), "content": "from a user"})
                .to_string(),
        )
        .send()
        .await
        .expect("inject")
        .json()
        .await
        .expect("json");
    assert_eq!(ev["content"], "from a user");
    let bad = http
        .post(format!("{ctl}/events"))
        .body("{}")
        .send()
        .await
        .expect("bad");
    assert_eq!(bad.status(), 400);
    assert_eq!(
        http.post(format!("{ctl}/reset"))
            .send()
            .await
            .expect("reset")
            .status(),
        200
    );
    let c: Value = http
        .get(format!("{ctl}/counters"))
        .send()
        .await
        .expect("counters")
        .json()
        .await
        .expect("json");
    assert_eq!(c["rest_calls"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        rest.call(
            "POST",
            &format!("/channels/{ch}/messages"),
            Some(json!({"content": "again"}))
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn requests_without_a_token_share_a_per_ip_global_limit() {
    let mut cfg = switchyard_sim::SimConfig::fast();
    cfg.rate_limits.global_per_ip = switchyard_sim::Limit {
        limit: 2,
        window_ms: 10_000,
    };
    let sim = common::sim(cfg).await;
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        // unknown webhook: no auth needed, still counted against the IP
        let r = http
            .post(format!("{}/webhooks/1/nope", sim.api_url()))
            .header("Content-Type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("send");
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["x-ratelimit-global"], "true");
            assert!(r.headers().contains_key("via"));
        } else {
            assert_eq!(r.json::<Value>().await.expect("json")["code"], 10015);
        }
    }
    assert_eq!(statuses, vec![404, 404, 429]);
    // the unversioned prefix reaches the same API
    let r = http
        .get(format!("{}/api/gateway", sim.http_url()))
        .send()
        .await
        .expect("gateway");
    assert_eq!(
        r.status(),
        429,
        "still limited: /api/gateway is the same IP"
    );
}

#[tokio::test]
async fn the_global_limit_per_token_gives_a_global_429() {
    let mut cfg = switchyard_sim::SimConfig::fast();
    cfg.rate_limits.global_per_token = switchyard_sim::Limit {
        limit: 3,
        window_ms: 10_000,
    };
    let sim = common::sim(cfg).await;
    let rest = Rest::new(&sim);
    // Different routes, so that no route bucket is the cause.
    for path in ["/users/@me", "/gateway/bot", "/users/@me/guilds"] {
        assert_eq!(rest.call("GET", path, None).await.0, 200, "{path}");
    }
    let (s, h, v) = rest.call("GET", "/applications/@me", None).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(h["x-ratelimit-global"], "true");
    assert_eq!(h["x-ratelimit-scope"], "global");
    assert!(h.contains_key("retry-after") && h.contains_key("via"));
    assert_eq!(v["global"], true);
    assert!(
        v["retry_after"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r <= 10.0)
    );
    let counts = sim.counters_summary().rest;
    assert_eq!(
        (counts.rate_limited_global, counts.rate_limited_route),
        (1, 0)
    );
    // Requests without a token are limited per IP, not by the bot's window.
    let anon = reqwest::get(format!("{}/gateway", sim.api_url()))
        .await
        .expect("gateway");
    assert_eq!(anon.status(), 200);
}

#[tokio::test]
async fn a_forced_shared_429_is_not_an_invalid_request() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let http = reqwest::Client::new();
    let faults = format!("{}/_sim/faults", sim.http_url());
    let post = |body: &'static str| http.post(&faults).body(body).send();
    let r = post(r#"{"type":"rate_limit","count":1,"scope":"shared","retry_after_ms":20}"#)
        .await
        .expect("fault");
    assert_eq!(r.status(), 200);
    let (s, h, v) = rest.call("GET", "/users/@me", None).await;
    assert_eq!(s, 429);
    assert_eq!(h["x-ratelimit-scope"], "shared");
    assert!(!h.contains_key("x-ratelimit-global"));
    assert_eq!(v["global"], false);
    assert!(v.get("code").is_none(), "{v}");
    let (s, h, _) = rest.call("GET", "/users/@me", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        h["x-ratelimit-scope"], "user",
        "non-429s keep the scope header"
    );
    let counts = sim.counters_summary().rest;
    assert_eq!((counts.rate_limited_route, counts.invalid_requests), (1, 0));

    // The default scope is `user`, which counts.
    post(r#"{"type":"rate_limit","count":1}"#)
        .await
        .expect("fault");
    let (s, h, _) = rest.call("GET", "/users/@me", None).await;
    assert_eq!(s, 429);
    assert_eq!(h["x-ratelimit-scope"], "user");
    assert_eq!(sim.counters_summary().rest.invalid_requests, 1);

    // A global 429 has scope `global`: asking for another is refused.
    let r = post(r#"{"type":"rate_limit","count":1,"global":true,"scope":"shared"}"#)
        .await
        .expect("fault");
    assert_eq!(r.status(), 400);
    let r = post(r#"{"type":"rate_limit","count":1,"scope":"everyone"}"#)
        .await
        .expect("fault");
    assert_eq!(r.status(), 400);
}
