//! Against a scripted line server in the test, for what ngircd cannot do or will not send:
//! SASL PLAIN (and its refusal), malformed and overlong lines, a netsplit, the server's PING,
//! and flood control with its queue limit.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_broker::{Broker, Pattern, Subscription, Topic};
use switchyard_irc::{IrcConfig, RunningIrc, SaslConfig};
use switchyard_testkit::IRC_WAIT;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One connection the bot made to the scripted server.
struct Peer {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    seen: Vec<String>,
}

impl Peer {
    async fn accept(listener: &TcpListener) -> Peer {
        let (stream, _) = tokio::time::timeout(IRC_WAIT, listener.accept())
            .await
            .expect("the bot connects in time")
            .expect("accept");
        let (r, w) = stream.into_split();
        Peer {
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("send to the bot");
    }

    /// The next line from the bot that `want` accepts.
    async fn expect(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + IRC_WAIT;
        loop {
            let mut line = String::new();
            match tokio::time::timeout_at(deadline, self.reader.read_line(&mut line)).await {
                Ok(Ok(n)) if n > 0 => {}
                other => panic!(
                    "no expected line ({other:?}); seen:\n{}",
                    self.seen.join("\n")
                ),
            }
            let line = line.trim_end().to_owned();
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }

    /// Registers the bot and takes its JOIN.
    async fn welcome(&mut self) {
        self.send(":srv.test 001 sybot :Welcome").await;
        self.send(":srv.test 005 sybot CASEMAPPING=rfc1459 :are supported")
            .await;
        self.expect(|l| l == "JOIN #c").await;
        self.send(":sybot!u@h JOIN #c").await;
    }
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    (l, addr)
}

async fn start(config: IrcConfig) -> (Arc<dyn Broker>, RunningIrc, Subscription) {
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::new(Default::default()));
    let inbound = broker
        .subscribe(&Pattern::new("inbound.irc.>").expect("pattern"))
        .await
        .expect("subscribe");
    let irc = switchyard_irc::start(vec![config], broker.clone())
        .await
        .expect("irc starts");
    (broker, irc, inbound)
}

fn config(addr: &str) -> IrcConfig {
    let mut c = IrcConfig::new("scripted", addr, "sybot");
    c.channels = vec!["#c".into()];
    c.reconnect_max_ms = 1000;
    c
}

fn sasl(password: &str) -> Option<SaslConfig> {
    Some(SaslConfig {
        username: "acct".into(),
        password: Some(password.into()),
        password_env: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sasl_plain_then_a_refusal_ends_the_connection() {
    let (listener, addr) = listener().await;
    let mut c = config(&addr);
    c.sasl = sasl("s3cret pass");
    let (_broker, irc, mut inbound) = start(c).await;
    let mut peer = Peer::accept(&listener).await;
    peer.expect(|l| l == "CAP LS 302").await;
    peer.send(":srv.test CAP * LS * :multi-prefix").await;
    peer.send(":srv.test CAP * LS :sasl=PLAIN").await;
    peer.expect(|l| l == "CAP REQ :sasl").await;
    peer.send(":srv.test CAP sybot ACK :sasl").await;
    peer.expect(|l| l == "AUTHENTICATE PLAIN").await;
    peer.send("AUTHENTICATE +").await;
    // base64("acct\0acct\0s3cret pass")
    peer.expect(|l| l == "AUTHENTICATE YWNjdABhY2N0AHMzY3JldCBwYXNz")
        .await;
    peer.send(":srv.test 900 sybot sybot!u@h acct :You are now logged in as acct")
        .await;
    peer.send(":srv.test 903 sybot :SASL authentication successful")
        .await;
    peer.expect(|l| l == "CAP END").await;
    peer.welcome().await;
    peer.send(":ann!a@h PRIVMSG #c :authenticated hello").await;
    let m = tokio::time::timeout(IRC_WAIT, inbound.recv())
        .await
        .expect("in time")
        .expect("open");
    assert_eq!(m.topic.as_str(), "inbound.irc.scripted.c.ann");
    irc.shutdown().await;

    // The wrong password: the bot leaves rather than go on unauthenticated, and tries again.
    let mut c = config(&addr);
    c.sasl = sasl("wrong");
    let (_broker, irc, _inbound) = start(c).await;
    for _ in 0..2 {
        let mut peer = Peer::accept(&listener).await;
        peer.send(":srv.test CAP * LS :sasl").await;
        peer.expect(|l| l == "CAP REQ :sasl").await;
        peer.send(":srv.test CAP sybot ACK :sasl").await;
        peer.expect(|l| l == "AUTHENTICATE PLAIN").await;
        peer.send("AUTHENTICATE +").await;
        peer.expect(|l| l.starts_with("AUTHENTICATE ")).await;
        peer.send(":srv.test 904 sybot :SASL authentication failed")
            .await;
        // The bot closes the connection: reading ends without a JOIN or CAP END.
        let mut rest = String::new();
        let mut lines = Vec::new();
        loop {
            rest.clear();
            match tokio::time::timeout(IRC_WAIT, peer.reader.read_line(&mut rest)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(_)) => lines.push(rest.trim_end().to_owned()),
                Err(_) => panic!("the bot stayed connected after SASL failed: {lines:?}"),
            }
        }
        assert!(
            !lines
                .iter()
                .any(|l| l.starts_with("CAP END") || l.starts_with("JOIN")),
            "{lines:?}"
        );
    }
    let status = irc.status();
    let last = status[0].last_error.clone().unwrap_or_default();
    assert!(last.starts_with("sasl_failed"), "{last}");
    assert!(
        !format!("{status:?}").contains("wrong"),
        "the password never shows"
    );
    irc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_splits_and_pings_do_not_stop_the_messages() {
    let (listener, addr) = listener().await;
    let (_broker, irc, mut inbound) = start(config(&addr)).await;
    let mut peer = Peer::accept(&listener).await;
    peer.expect(|l| l.starts_with("USER ")).await;
    peer.welcome().await;
    peer.send("").await;
    peer.send(":").await;
    peer.send("@only-tags").await;
    peer.send(":srv.test").await;
    peer.send(&format!(":x PRIVMSG #c :{}", "y".repeat(20_000)))
        .await;
    peer.writer
        .write_all(b":bad!u@h PRIVMSG #c :\xff\xfe not utf-8\r\n")
        .await
        .expect("send");
    for who in ["a", "b", "c"] {
        peer.send(&format!(":{who}!u@h QUIT :hub.test leaf.test"))
            .await;
    }
    peer.send("PING :are-you-there").await;
    peer.expect(|l| l == "PONG :are-you-there").await;
    peer.send(":ann!a@h PRIVMSG #c :still here").await;
    let mut contents = Vec::new();
    while contents.len() < 2 {
        let m = tokio::time::timeout(IRC_WAIT, inbound.recv())
            .await
            .expect("in time")
            .expect("open");
        let env: Value = serde_json::from_slice(&m.payload).expect("envelope");
        contents.push(env["d"]["content"].as_str().unwrap_or("").to_owned());
    }
    assert!(contents[0].contains("not utf-8"), "{contents:?}");
    assert_eq!(contents[1], "still here");
    let status = irc.status();
    assert_eq!(status[0].connections, 1, "the same connection throughout");
    irc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_replies_is_paced_and_the_excess_refused() {
    let (listener, addr) = listener().await;
    let mut c = config(&addr);
    c.send_interval_ms = 100;
    c.send_burst = 2;
    c.send_queue = 6;
    let (broker, irc, _inbound) = start(c).await;
    let errors = broker
        .subscribe(&Pattern::new("errors.outbound.irc.>").expect("pattern"))
        .await
        .expect("subscribe");
    let mut peer = Peer::accept(&listener).await;
    peer.expect(|l| l.starts_with("USER ")).await;
    peer.welcome().await;
    // Wait until the bot is registered, so that nothing is sent before the flood starts.
    let deadline = tokio::time::Instant::now() + IRC_WAIT;
    while irc.status()[0].state != "registered" {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", irc.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answers = broker
        .subscribe(&Pattern::new("inbound.rest.flood.>").expect("pattern"))
        .await
        .expect("subscribe");
    let topic = Topic::new("outbound.irc.scripted.c.0").expect("topic");
    let bogus = Topic::new("outbound.irc.scripted.c").expect("topic");
    broker
        .publish(&bogus, Bytes::from_static(b"\"no nick segment\""))
        .await
        .expect("publish");
    let started = tokio::time::Instant::now();
    for i in 0..20 {
        let payload =
            format!("{{\"content\":\"line {i}\",\"reply_to\":\"inbound.rest.flood.{i}\"}}");
        broker
            .publish(&topic, Bytes::from(payload))
            .await
            .expect("publish");
    }
    // Every message is answered: sent, or refused because the queue was full.
    let (mut sent, mut full) = (0, 0);
    for _ in 0..20 {
        let m = tokio::time::timeout(IRC_WAIT, answers.recv())
            .await
            .expect("answers in time")
            .expect("open");
        let answer: Value = serde_json::from_slice(&m.payload).expect("answer");
        match (answer["ok"].as_bool(), answer["kind"].as_str()) {
            (Some(true), _) => sent += 1,
            (Some(false), Some("queue_full")) => full += 1,
            other => panic!("unexpected answer {other:?}: {answer}"),
        }
    }
    assert!(full > 0 && sent >= 6, "sent {sent}, refused {full}");
    let mut got = Vec::new();
    while got.len() < sent {
        let line = peer.expect(|l| l.starts_with("PRIVMSG #c :line ")).await;
        got.push(line["PRIVMSG #c :line ".len()..].parse::<u32>().expect("n"));
    }
    let elapsed = started.elapsed();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(got, sorted, "in order");
    // After the burst of 2, one line per 100 ms at most.
    let floor = Duration::from_millis(100 * (sent as u64 - 2));
    assert!(elapsed >= floor, "{sent} lines in {elapsed:?}");
    let mut errors = errors;
    let mut kinds = Vec::new();
    while kinds.len() < full + 1 {
        let m = tokio::time::timeout(IRC_WAIT, errors.recv())
            .await
            .expect("error reports in time")
            .expect("open");
        let report: Value = serde_json::from_slice(&m.payload).expect("report");
        kinds.push(report["kind"].as_str().unwrap_or("").to_owned());
    }
    assert!(kinds.contains(&"no_channel".to_owned()), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "queue_full").count(), full);
    irc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_talks_but_never_welcomes_is_left() {
    let (listener, addr) = listener().await;
    let mut c = config(&addr);
    c.ping_interval_ms = 1000;
    let (_broker, irc, _inbound) = start(c).await;
    let mut peer = Peer::accept(&listener).await;
    peer.expect(|l| l.starts_with("USER ")).await;
    // Chatter, never 001: the bot must not wait for ever.
    let deadline = tokio::time::Instant::now() + IRC_WAIT;
    loop {
        if peer
            .writer
            .write_all(b":srv.test NOTICE * :*** still looking up your hostname\r\n")
            .await
            .is_err()
        {
            break;
        }
        let last = irc.status()[0].last_error.clone().unwrap_or_default();
        if last.starts_with("registration_timeout") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", irc.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And it tries again.
    let mut again = Peer::accept(&listener).await;
    again.expect(|l| l.starts_with("NICK ")).await;
    let last = irc.status()[0].last_error.clone().unwrap_or_default();
    assert!(last.starts_with("registration_timeout"), "{last}");
    irc.shutdown().await;
}
