//! Every listener bound off loopback needs its secret: `switchyard run` on 0.0.0.0 with its
//! admin listener (its status, metrics, cache API and pool actions), the embedded broker's
//! RESP port, the face, the interactions endpoint and the gRPC listener, and `switchyard
//! rest-proxy` on 0.0.0.0; each is tried through 127.0.0.1 without its secret, with a wrong
//! one (refused: 401, NOAUTH/WRONGPASS, close 4004, UNAUTHENTICATED) and with the right one
//! (served).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use switchyard_face::FaceTokens;
use switchyard_sim::{Delivery, DeliveryKind, Signing, Sim, SimConfig};
use switchyard_testkit::{free_port, require_binary};
use tokio_tungstenite::tungstenite::Message;

const ADMIN_TOKEN: &str = "admin-token-3b9";
const RESP_PASSWORD: &str = "resp-password-77c";
const REST_SECRET: &str = "rest-secret-a12";
const GRPC_TOKEN: &str = "grpc-token-5e0";
/// The bot's Discord token (its user id, base64, first), which the fake accepts alone.
const REAL: &str = "MTM3MDAwMDAwMDAwMDAwMDc3.GpOoLx.listenersRealToken_0001";
const BOT: u64 = 137_000_000_000_000_077;

/// Control.ListBots on the gRPC listener at `port`, with `token` if any.
async fn grpc_list_bots(port: u16, token: Option<&str>) -> Result<(), tonic::Code> {
    use switchyard_api::proto::{ListBotsRequest, control_client::ControlClient};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("URL")
        .connect()
        .await
        .expect("the gRPC listener is up");
    let mut request = tonic::Request::new(ListBotsRequest::default());
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().expect("ASCII");
        request.metadata_mut().insert("authorization", value);
    }
    ControlClient::new(channel)
        .list_bots(request)
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

/// Kills the process when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The HTTP status of `method url` with `headers` (0 when nothing answered).
async fn status_of(method: reqwest::Method, url: &str, headers: &[(&str, &str)]) -> u16 {
    let client = reqwest::Client::new();
    let mut req = client.request(method, url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    match req.send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// `redis-cli -p port [-a password] PUBLISH a.b x`'s output.
fn resp_publish(port: u16, password: Option<&str>) -> String {
    let mut cmd = Command::new(require_binary("redis-cli"));
    cmd.args(["-p", &port.to_string(), "--no-auth-warning"]);
    if let Some(p) = password {
        cmd.args(["-a", p]);
    }
    let out = cmd
        .args(["PUBLISH", "a.b", "x"])
        .output()
        .expect("redis-cli");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// IDENTIFYs on the face with `token`: `Ok(())` on READY, `Err(close code)` when closed.
async fn face_identify(port: u16, token: &str) -> Result<(), u16> {
    let url = format!("ws://127.0.0.1:{port}/?v=10&encoding=json");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("the face accepts the connection");
    let identify = serde_json::json!({"op": 2, "d": {"token": token, "intents": 513,
        "properties": {"os": "linux", "browser": "t", "device": "t"}}});
    ws.send(Message::text(identify.to_string()))
        .await
        .expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("an answer to IDENTIFY in time");
        match next {
            Some(Ok(Message::Text(text))) => {
                let v: serde_json::Value = serde_json::from_str(&text).expect("json");
                if v["t"] == "READY" {
                    return Ok(());
                }
            }
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map_or(0, |f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err(0),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_off_loopback_refuses_a_missing_or_wrong_secret() {
    let sim = Sim::start(SimConfig {
        token: Some(REAL.to_owned()),
        ..SimConfig::fast()
    })
    .await
    .expect("sim");
    let face_token = FaceTokens::mint(BOT, "listenersFaceSecret");
    let wrong_face_token = FaceTokens::mint(BOT, "someOtherSecret");
    let dir = tempfile::tempdir().expect("tempdir");
    let (resp, admin, face, interactions) = (free_port(), free_port(), free_port(), free_port());
    let grpc = free_port();
    let log = std::fs::File::create(dir.path().join("run.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .arg("run")
        .env_remove("SWITCHYARD_CONFIG")
        .env("DISCORD_TOKEN", REAL)
        .env("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }")
        .env("SWITCHYARD_GATEWAY_API_URL", sim.http_url())
        .env("SWITCHYARD_GATEWAY_SESSION_DIR", dir.path())
        .env("SWITCHYARD_CONTROL_KEY", "listeners-control-key")
        .env("SWITCHYARD_ADMIN_BIND", format!("0.0.0.0:{admin}"))
        .env("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("SWITCHYARD_BROKER_RESP_BIND", "0.0.0.0")
        .env("SWITCHYARD_BROKER_RESP_PORT", resp.to_string())
        .env("SWITCHYARD_BROKER_RESP_PASSWORD", RESP_PASSWORD)
        .env("SWITCHYARD_FACE_ENABLED", "true")
        .env("SWITCHYARD_FACE_BIND", format!("0.0.0.0:{face}"))
        .env("SWITCHYARD_FACE_TOKENS", &face_token)
        .env("SWITCHYARD_GRPC_ENABLED", "true")
        .env("SWITCHYARD_GRPC_BIND", format!("0.0.0.0:{grpc}"))
        .env("SWITCHYARD_GRPC_TOKEN", GRPC_TOKEN)
        .env("SWITCHYARD_INTERACTIONS_ENABLED", "true")
        .env(
            "SWITCHYARD_INTERACTIONS_BIND",
            format!("0.0.0.0:{interactions}"),
        )
        .env(
            "SWITCHYARD_INTERACTIONS_PUBLIC_KEY",
            sim.interactions_public_key(),
        )
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("switchyard run starts");
    let mut run = Running(child);

    // The admin listener: everything needs the bearer token.
    let base = format!("http://127.0.0.1:{admin}");
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let get = reqwest::Method::GET;
    while status_of(
        get.clone(),
        &format!("{base}/status"),
        &[("authorization", &bearer)],
    )
    .await
        != 200
    {
        if let Ok(Some(status)) = run.0.try_wait() {
            let log = std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
            panic!("switchyard run exited ({status}):\n{log}");
        }
        assert!(Instant::now() < deadline, "the admin listener never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let admin_paths = [
        (reqwest::Method::GET, "/status"),
        (reqwest::Method::GET, "/metrics"),
        (reqwest::Method::GET, "/v1/cache/switchyard/guilds"),
        (reqwest::Method::POST, "/v1/pool/switchyard/shards/0/move"),
    ];
    for (method, path) in &admin_paths {
        let url = format!("{base}{path}");
        for wrong in [None, Some("Bearer nope"), Some(ADMIN_TOKEN)] {
            let headers: Vec<(&str, &str)> =
                wrong.map(|w| ("authorization", w)).into_iter().collect();
            let got = status_of(method.clone(), &url, &headers).await;
            assert_eq!(got, 401, "{method} {path} with {wrong:?}");
        }
        let got = status_of(method.clone(), &url, &[("authorization", &bearer)]).await;
        assert_ne!(got, 401, "{method} {path} with the token");
        assert_ne!(got, 0, "{method} {path} with the token");
    }

    // The RESP port: AUTH first.
    assert!(
        resp_publish(resp, None).contains("NOAUTH"),
        "{}",
        resp_publish(resp, None)
    );
    let wrong = resp_publish(resp, Some("guess"));
    assert!(
        wrong.contains("WRONGPASS") || wrong.contains("ERR"),
        "{wrong}"
    );
    let right = resp_publish(resp, Some(RESP_PASSWORD));
    assert!(right.trim().parse::<u64>().is_ok(), "{right}");

    // The face: a client's token is its secret.
    assert_eq!(face_identify(face, "").await, Err(4004));
    assert_eq!(face_identify(face, &wrong_face_token).await, Err(4004));
    // 4000 while the bot is not ready upstream yet: identify again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match face_identify(face, &face_token).await {
            Ok(()) => break,
            Err(4000) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(code) => panic!("the face closed the right token with {code}"),
        }
    }

    // The interactions endpoint: Discord's signature, with the application's public key.
    let url = format!("http://127.0.0.1:{interactions}/interactions");
    let unsigned = status_of(
        reqwest::Method::POST,
        &url,
        &[("content-type", "application/json")],
    )
    .await;
    assert_eq!(unsigned, 401, "unsigned");
    let ping = |signing| Delivery {
        url: url.clone(),
        kind: DeliveryKind::Ping,
        channel_id: None,
        name: None,
        value: None,
        bot_id: None,
        user_id: None,
        signing,
    };
    let forged = sim
        .deliver(&ping(Signing::WrongKey))
        .await
        .expect("delivered");
    assert_eq!(forged.status, 401, "{forged:?}");
    let signed = sim.deliver(&ping(Signing::Valid)).await.expect("delivered");
    assert_eq!(signed.status, 200, "{signed:?}");

    // The gRPC listener: `authorization: Bearer` in the metadata.
    for (token, served) in [
        (None, false),
        (Some("nope"), false),
        (Some(GRPC_TOKEN), true),
    ] {
        let got = grpc_list_bots(grpc, token).await;
        assert_eq!(got.is_ok(), served, "gRPC with {token:?}: {got:?}");
        if let Err(code) = got {
            assert_eq!(code, tonic::Code::Unauthenticated, "gRPC with {token:?}");
        }
    }
    // The REST proxy: X-Switchyard-Secret.
    let mut proxy = Command::new(env!("CARGO_BIN_EXE_switchyard"))
        .args(["rest-proxy", "--port", "0", "--admin", "127.0.0.1:0"])
        .args(["--upstream", sim.http_url()])
        .env_remove("SWITCHYARD_CONFIG")
        .env("SWITCHYARD_REST_BIND", "0.0.0.0")
        .env("SWITCHYARD_REST_SECRET", REST_SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("rest-proxy starts");
    let mut line = String::new();
    BufReader::new(proxy.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("first line");
    let _proxy = Running(proxy);
    let api = line
        .split_whitespace()
        .find(|w| w.ends_with("/api/v10"))
        .unwrap_or_else(|| panic!("startup line: {line}"))
        .replace("0.0.0.0", "127.0.0.1");
    let url = format!("{api}/gateway/bot");
    let bot_auth = format!("Bot {REAL}");
    let auth = ("authorization", bot_auth.as_str());
    for wrong in [None, Some("guess")] {
        let headers: Vec<(&str, &str)> = std::iter::once(auth)
            .chain(wrong.map(|w| ("x-switchyard-secret", w)))
            .collect();
        assert_eq!(
            status_of(get.clone(), &url, &headers).await,
            401,
            "{wrong:?}"
        );
    }
    let got = status_of(
        get.clone(),
        &url,
        &[auth, ("x-switchyard-secret", REST_SECRET)],
    )
    .await;
    assert_eq!(got, 200);
}
