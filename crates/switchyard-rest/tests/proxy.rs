//! The proxy as a bot sees it: forwarding (versioned, unversioned, unknown routes), the
//! queue-time header, synthetic 429s in fail-fast mode and past the maximum wait, the 401
//! lock, 502 when the upstream is down, multi-MiB streamed uploads, no token in the logs, and
//! requests as the upstream receives them.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Node, TOKEN, channels, config, sim, upstream_429s};
use serde_json::{Value, json};
use switchyard_rest::WaitMode;

/// A fake whose message bucket is 5 per second, so that sequential requests from a debug
/// build on a loaded machine still fill it.
async fn slow_sim() -> switchyard_sim::SimHandle {
    sim_with_message_window(1000).await
}

/// A fake whose message route allows five messages per `window_ms`.
async fn sim_with_message_window(window_ms: u64) -> switchyard_sim::SimHandle {
    let mut limits = common::small_limits();
    limits.message_create.window_ms = window_ms;
    let config = switchyard_sim::SimConfig {
        rate_limits: limits,
        ..switchyard_sim::SimConfig::fast()
    };
    switchyard_sim::Sim::start(config).await.expect("sim")
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn post(base: &str, path: &str, body: Value) -> reqwest::Response {
    http()
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bot {TOKEN}"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn forwards_every_route_with_the_queue_time_header() {
    let sim = sim().await;
    let node = Node::start(config(sim.http_url(), None)).await;
    let ch = channels(&sim, 1)[0];
    let res = post(
        &node.api(),
        &format!("/channels/{ch}/messages"),
        json!({"content": "hi"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-switchyard-queue-ms"));
    assert_eq!(res.headers()["x-ratelimit-limit"], "5");
    let msg: Value = res.json().await.expect("json");
    assert_eq!(msg["content"], "hi");

    // unversioned /api/… reaches the fake as /api/…
    let res = http()
        .get(format!("http://{}/api/users/@me", node.addr))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("unversioned");
    assert_eq!(res.status(), 200);
    // an unknown route is forwarded, and the fake's 404 comes back
    let res = http()
        .get(format!("{}/no/such/route/123", node.api()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("unknown");
    assert_eq!(res.status(), 404);
    assert!(!res.headers().contains_key("x-switchyard-generated"));
    let calls = sim.counters().rest_calls;
    assert!(calls.iter().any(|c| c.path == "/api/users/@me"));
    assert!(calls.iter().any(|c| c.path == "/api/v10/no/such/route/123"));
    // outside /api the proxy answers Discord's 404 itself
    let res = http()
        .get(format!("http://{}/elsewhere", node.addr))
        .send()
        .await
        .expect("elsewhere");
    assert_eq!(res.status(), 404);
    assert_eq!(res.json::<Value>().await.expect("json")["code"], 0);
}

#[tokio::test]
async fn fail_fast_answers_a_discord_shaped_429_and_never_earns_one() {
    let sim = slow_sim().await;
    let mut cfg = config(sim.http_url(), None);
    cfg.wait = WaitMode::FailFast;
    let node = Node::start(cfg).await;
    let ch = channels(&sim, 1)[0];
    let mut ok = 0;
    let mut synthetic = Vec::new();
    for i in 0..8 {
        let res = post(
            &node.api(),
            &format!("/channels/{ch}/messages"),
            json!({"content": format!("m{i}")}),
        )
        .await;
        match res.status().as_u16() {
            200 => ok += 1,
            429 => synthetic.push(res),
            s => panic!("unexpected status {s}"),
        }
    }
    assert_eq!(ok, 5, "the bucket allows 5 per window");
    assert_eq!(synthetic.len(), 3);
    let res = synthetic.pop().expect("a 429");
    let h = res.headers().clone();
    assert_eq!(h["x-switchyard-generated"], "rate-limit");
    assert!(h.contains_key("via") && h.contains_key("retry-after"));
    assert_eq!(h["content-type"], "application/json");
    let body: Value = res.json().await.expect("json");
    let retry = body["retry_after"].as_f64().expect("retry_after");
    assert!(retry > 0.0 && retry <= 1.1, "{retry}");
    assert_eq!(body["global"], false);
    assert_eq!(upstream_429s(&sim), 0);
    assert_eq!(node.client.limiter().stats().synthetic_429, 3);
}

#[tokio::test]
async fn queue_mode_waits_up_to_the_maximum() {
    // a window long enough that seven requests in a row fall in it however loaded the machine
    let sim = sim_with_message_window(5000).await;
    let mut cfg = config(sim.http_url(), None);
    cfg.wait = WaitMode::Queue {
        max_wait: Duration::from_millis(100),
    };
    let node = Node::start(cfg).await;
    let ch = channels(&sim, 1)[0];
    let mut statuses = Vec::new();
    for i in 0..7 {
        let res = post(
            &node.api(),
            &format!("/channels/{ch}/messages"),
            json!({"content": format!("m{i}")}),
        )
        .await;
        statuses.push(res.status().as_u16());
    }
    // five go at once; the sixth would wait for the window, beyond the 100 ms allowed
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 429, 429]);
    // once the window has passed, messages go again; until then the proxy answers itself
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let res = post(
            &node.api(),
            &format!("/channels/{ch}/messages"),
            json!({"content": "later"}),
        )
        .await;
        match res.status().as_u16() {
            200 => break,
            429 => assert!(
                std::time::Instant::now() < deadline,
                "still limited a minute later"
            ),
            other => panic!("answered {other}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(upstream_429s(&sim), 0);
}

#[tokio::test]
async fn the_first_401_locks_the_token() {
    let mut cfg = switchyard_sim::SimConfig::fast();
    cfg.token = Some("the-only-good-token".into());
    let sim = switchyard_sim::Sim::start(cfg).await.expect("sim");
    let node = Node::start(config(sim.http_url(), None)).await;
    for _ in 0..3 {
        let res = http()
            .get(format!("{}/users/@me", node.api()))
            .header("Authorization", "Bot wrong-token")
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 401);
    }
    let c = sim.counters();
    assert_eq!(c.rest.requests, 1, "only the first 401 reached Discord");
    assert_eq!(node.client.limiter().stats().locked_tokens, 1);
    let res = http()
        .get(format!("{}/users/@me", node.api()))
        .header("Authorization", "Bot wrong-token")
        .send()
        .await
        .expect("request");
    assert_eq!(res.headers()["x-switchyard-generated"], "token-locked");
    let body: Value = res.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("locked")),
        "{body}"
    );
    // the good token is not affected
    let res = http()
        .get(format!("{}/users/@me", node.api()))
        .header("Authorization", "Bot the-only-good-token")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    assert_eq!(node.client.limiter().stats().invalid_10m, 1);
}

#[tokio::test]
async fn upstream_down_is_a_502_with_a_json_body() {
    let port = switchyard_testkit::free_port();
    let node = Node::start(config(&format!("http://127.0.0.1:{port}"), None)).await;
    let res = post(&node.api(), "/channels/1/messages", json!({"content": "x"})).await;
    assert_eq!(res.status(), 502);
    assert_eq!(
        res.headers()["x-switchyard-generated"],
        "upstream-unreachable"
    );
    let body: Value = res.json().await.expect("json body");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("upstream")),
        "{body}"
    );
}

/// The client names what went wrong: nothing listening upstream is a failed connection,
/// with the HTTP client's error as its source.
#[tokio::test]
async fn upstream_down_is_a_connect_error_for_the_client() {
    let port = switchyard_testkit::free_port();
    let cfg = config(&format!("http://127.0.0.1:{port}"), None);
    let client = switchyard_rest::RestClient::new(cfg).await.expect("client");
    let req =
        switchyard_rest::HttpRequest::new(http::Method::GET, "/channels/1/messages", Some(TOKEN));
    let e = client
        .send(req)
        .await
        .expect_err("nothing listens upstream");
    assert!(
        matches!(e, switchyard_rest::RestError::Connect { .. }) && e.is_upstream(),
        "{e:?}"
    );
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    assert!(
        e.to_string()
            .starts_with("upstream unreachable: cannot connect"),
        "{e}"
    );
}

/// Serves `app` on a free loopback port, as a stand-in upstream.
async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(l, app).await;
    });
    addr
}

/// An upstream that answers with what it received: method, path and query, Host and
/// Content-Length (`null` when absent).
async fn echo_head() -> std::net::SocketAddr {
    let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        axum::Json(json!({
            "method": req.method().as_str(),
            "uri": req.uri().to_string(),
            "host": header("host"),
            "content_length": header("content-length"),
        }))
    });
    serve(app).await
}

/// Requests reach Discord as it reads them: a POST without a body says `Content-Length: 0`
/// (Discord answers 411 otherwise), a GET sends no length, `Host` names the upstream, and an
/// emoji or a space in a path (a reaction route built by a bot) goes percent-encoded.
#[tokio::test]
async fn requests_reach_the_upstream_as_discord_reads_them() {
    let upstream = echo_head().await;
    let client = switchyard_rest::RestClient::new(config(&format!("http://{upstream}"), None))
        .await
        .expect("client");
    let send = |method: http::Method, path: &'static str| {
        let client = client.clone();
        async move {
            let res = client
                .send(switchyard_rest::HttpRequest::new(method, path, Some(TOKEN)))
                .await
                .expect("answered");
            let body = res.bytes().await.expect("body");
            serde_json::from_slice::<Value>(&body).expect("json")
        }
    };
    let post = send(http::Method::POST, "/channels/1/typing").await;
    assert_eq!(post["content_length"], "0", "{post}");
    assert_eq!(post["host"], upstream.to_string(), "{post}");
    let get = send(http::Method::GET, "/channels/1").await;
    assert_eq!(get["content_length"], Value::Null, "{get}");
    assert_eq!(get["uri"], "/api/v10/channels/1", "{get}");
    let put = send(
        http::Method::PUT,
        "/channels/1/messages/2/reactions/👍 x/@me",
    )
    .await;
    assert_eq!(
        put["uri"], "/api/v10/channels/1/messages/2/reactions/%F0%9F%91%8D%20x/@me",
        "{put}"
    );
    // through the proxy, a query is kept as it came
    let node = Node::start(config(&format!("http://{upstream}"), None)).await;
    let res = http()
        .get(format!(
            "{}/channels/1/messages?limit=5&around=7",
            node.api()
        ))
        .header("Authorization", format!("Bot {TOKEN}"))
        .send()
        .await
        .expect("request");
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body["uri"], "/api/v10/channels/1/messages?limit=5&around=7",
        "{body}"
    );
}

/// An upstream that counts the bytes of each upload and answers with the count.
async fn byte_counter() -> std::net::SocketAddr {
    use axum::body::Body;
    use futures_util::StreamExt as _;
    let app = axum::Router::new().fallback(|req: axum::extract::Request<Body>| async move {
        let ct = req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let mut stream = req.into_body().into_data_stream();
        let (mut n, mut sum) = (0u64, 0u64);
        while let Some(Ok(chunk)) = stream.next().await {
            n += chunk.len() as u64;
            sum = chunk
                .iter()
                .fold(sum, |s, b| s.wrapping_mul(31).wrapping_add(u64::from(*b)));
        }
        axum::Json(json!({"bytes": n, "sum": sum, "content_type": ct}))
    });
    serve(app).await
}

#[tokio::test]
async fn multipart_uploads_of_several_mib_stream_through() {
    let upstream = byte_counter().await;
    let node = Node::start(config(&format!("http://{upstream}"), None)).await;
    let file: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let form = reqwest::multipart::Form::new()
        .text("payload_json", json!({"content": "file"}).to_string())
        .part(
            "files[0]",
            reqwest::multipart::Part::bytes(file.clone()).file_name("a.bin"),
        );
    // what the upstream should see: the same multipart body, byte for byte
    let direct: Value = http()
        .post(format!("http://{upstream}/api/v10/channels/1/messages"))
        .header("Authorization", format!("Bot {TOKEN}"))
        .multipart(form)
        .send()
        .await
        .expect("direct")
        .json()
        .await
        .expect("json");
    let form = reqwest::multipart::Form::new()
        .text("payload_json", json!({"content": "file"}).to_string())
        .part(
            "files[0]",
            reqwest::multipart::Part::bytes(file).file_name("a.bin"),
        );
    let res = http()
        .post(format!("{}/channels/1/messages", node.api()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .multipart(form)
        .send()
        .await
        .expect("through the proxy");
    assert_eq!(res.status(), 200);
    let via: Value = res.json().await.expect("json");
    assert!(via["bytes"].as_u64().expect("bytes") > 6 * 1024 * 1024);
    assert_eq!(via["bytes"], direct["bytes"]);
    // the boundary differs between the two forms; the sums cover it, so compare sizes and
    // the content type's shape
    assert!(
        via["content_type"]
            .as_str()
            .is_some_and(|c| c.starts_with("multipart/form-data; boundary="))
    );
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut cfg = switchyard_sim::SimConfig::fast();
    cfg.token = Some("good-token".into());
    let sim = switchyard_sim::Sim::start(cfg).await.expect("sim");
    let node = Node::start(config(sim.http_url(), None)).await;
    let secret = "SECRET-TOKEN-abc123";
    for path in ["/users/@me", "/webhooks/1/SECRET-WEBHOOK-xyz"] {
        let _ = http()
            .get(format!("{}{path}", node.api()))
            .header("Authorization", format!("Bot {secret}"))
            .send()
            .await
            .expect("request");
    }
    let dead = Node::start(config("http://127.0.0.1:1", None)).await;
    let _ = http()
        .post(format!("{}/webhooks/1/SECRET-WEBHOOK-xyz", dead.api()))
        .send()
        .await
        .expect("request");
    let logs = String::from_utf8_lossy(&capture.0.lock().expect("lock")).into_owned();
    assert!(logs.contains("401"), "the 401 is logged: {logs}");
    assert!(
        !logs.contains("SECRET"),
        "a token leaked into the logs: {logs}"
    );
}
