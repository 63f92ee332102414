//! Who may use the dashboard of a `switchyard run` with an admin token, over plain HTTP (raw
//! requests, so that Host and Origin are exactly what a browser or an attacker would send):
//! without the token the page asks for it; a Host that is not the listener's (DNS
//! rebinding) is refused; an action from another origin, without an Origin, without the
//! page's token or with a made-up one is refused with a status and a sentence saying why;
//! the page's own request goes through and SHUTDOWN reaches the service. The stream serves
//! the history and then snapshots naming the bot.

use std::time::{Duration, Instant};

use base64::Engine as _;
use dashboard_run::request;
use switchyard_broker::{BrokerOptions, Pattern};
use switchyard_sim::{Sim, SimConfig};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

mod dashboard_run;

const ADMIN_TOKEN: &str = "dashboard-admin-secret";

fn basic() -> String {
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("op:{ADMIN_TOKEN}"));
    format!("Authorization: Basic {creds}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_refuses_what_is_not_its_own_page() {
    let sim = Sim::start(SimConfig::fast()).await.expect("sim");
    let dir = tempfile::tempdir().expect("temp dir");
    let run =
        dashboard_run::start(&sim, dir.path(), &[("SWITCHYARD_ADMIN_TOKEN", ADMIN_TOKEN)]).await;
    let admin = run.admin.as_str();
    let host = format!("Host: {admin}");
    let auth = basic();

    // No token: the browser is asked for it.
    let (status, answer) = request(admin, &format!("GET / HTTP/1.1\r\n{host}"), "").await;
    assert_eq!(status, 401, "{answer}");
    assert!(
        answer.to_lowercase().contains("www-authenticate: basic"),
        "{answer}"
    );

    // With it: the page, carrying its token.
    let (status, page) = request(admin, &format!("GET / HTTP/1.1\r\n{host}\r\n{auth}"), "").await;
    assert_eq!(status, 200, "{page}");
    let mark = "name=\"switchyard-page-token\" content=\"";
    let at = page.find(mark).expect("the page carries a token") + mark.len();
    let token = &page[at..at + 32];
    assert!(token.chars().all(|c| c.is_ascii_hexdigit()), "{token}");

    // DNS rebinding: another site's name pointed at this address.
    let (status, answer) = request(
        admin,
        &format!("GET / HTTP/1.1\r\nHost: rebound.example:7380\r\n{auth}"),
        "",
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert!(
        answer.contains("does not name this admin listener"),
        "{answer}"
    );

    // A service to shut down, listening on its control topic.
    let broker =
        switchyard_broker::connect(&format!("redis://{}", run.resp), &BrokerOptions::default())
            .await
            .expect("the embedded broker's RESP port");
    let mut control = broker
        .subscribe(&Pattern::new("control.pybot").expect("pattern"))
        .await
        .expect("subscribe");
    let action = |origin: Option<&str>, page_token: Option<&str>| {
        let mut head = format!(
            "POST /dashboard/service HTTP/1.1\r\n{host}\r\n{auth}\r\nContent-Type: application/json"
        );
        if let Some(o) = origin {
            head.push_str(&format!("\r\nOrigin: {o}"));
        }
        if let Some(t) = page_token {
            head.push_str(&format!("\r\nX-Switchyard-Page-Token: {t}"));
        }
        head
    };
    let body = r#"{"op": "shutdown", "service": "pybot"}"#;
    let own = format!("http://{admin}");
    for (head, status, says) in [
        (
            action(Some("https://evil.example"), Some(token)),
            403,
            "cross-origin request refused",
        ),
        (action(None, Some(token)), 403, "no Origin header"),
        (action(Some(&own), None), 403, "no page token"),
        (
            action(Some(&own), Some(&"0".repeat(32))),
            403,
            "page token is not valid",
        ),
    ] {
        let (got, answer) = request(admin, &head, body).await;
        assert_eq!(got, status, "{head}\n{answer}");
        assert!(answer.contains(says), "{head}\n{answer}");
    }
    // The page's own request, without the admin token: still refused.
    let no_auth = action(Some(&own), Some(token)).replace(&format!("\r\n{auth}"), "");
    let (got, answer) = request(admin, &no_auth, body).await;
    assert_eq!(got, 401, "{answer}");

    // Nothing reached the service so far; the page's own request does.
    let (got, answer) = request(admin, &action(Some(&own), Some(token)), body).await;
    assert_eq!(got, 202, "{answer}");
    assert!(answer.contains("sent SHUTDOWN to pybot"), "{answer}");
    let first = tokio::time::timeout(Duration::from_secs(30), control.recv())
        .await
        .expect("a control message within 30 s")
        .expect("the subscription is open");
    let text = String::from_utf8_lossy(&first.payload);
    assert!(text.contains("SHUTDOWN"), "{text}");

    // The stream: the history first, then snapshots naming the bot's shard.
    let mut tcp = tokio::net::TcpStream::connect(admin)
        .await
        .expect("connect");
    let head = format!("GET /dashboard/stream HTTP/1.1\r\n{host}\r\n{auth}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.expect("send");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = String::new();
    while !(seen.contains("event: history")
        && seen.contains("event: snapshot")
        && seen.contains("\"shard_count\":1"))
    {
        assert!(Instant::now() < deadline, "the stream said:\n{seen}");
        let mut buf = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(30), tcp.read(&mut buf))
            .await
            .expect("the stream goes on")
            .expect("read");
        assert!(n > 0, "the stream ended:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(seen.contains("text/event-stream"), "{seen}");
}
