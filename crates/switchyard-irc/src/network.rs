//! One network's task: connect, register, read lines and publish what people say, send the
//! outbox within flood limits, PING a quiet server, and when the connection ends (closed, a
//! KILL, ERROR, a ping timeout, no welcome, SASL refused) reconnect after a backoff that
//! doubles from 1 s up to `reconnect_max_ms`, rejoining the channels. Its status has one
//! writer: this task.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Serialize;
use switchyard_broker::{Broker, Subscription};
use tokio::io::{AsyncReadExt, AsyncWriteExt, WriteHalf};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_rustls::rustls::ClientConfig;

use crate::config::{IrcConfig, Secret};
use crate::conn::{self, Line, Lines, Stream};
use crate::event::{self, Origin, Said};
use crate::flood::Flood;
use crate::outbox::Outbox;
use crate::session::{Heard, Session, Step};

/// How often channels and the nick are checked (rejoin after a kick or a split).
const UPKEEP: Duration = Duration::from_secs(15);
/// The longest a write to the server may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A session that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(60);

/// What `/status` shows of one network.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkStatus {
    /// The configured name.
    pub network: String,
    /// `connecting`, `registering`, `registered` or `waiting` (to reconnect).
    pub state: &'static str,
    /// Our nick now.
    pub nick: String,
    /// The channels joined, folded to lower case.
    pub channels: Vec<String>,
    /// Connections made so far.
    pub connections: u64,
    /// Why the last connection ended.
    pub last_error: Option<String>,
    /// Lines waiting for flood control.
    pub queued: usize,
}

pub(crate) type SharedStatus = Arc<Mutex<NetworkStatus>>;

/// What a network task needs.
pub(crate) struct Network {
    pub(crate) config: IrcConfig,
    pub(crate) sasl: Option<Secret>,
    /// TLS settings, when the network uses TLS.
    pub(crate) tls: Option<Arc<ClientConfig>>,
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) outbound: Subscription,
    pub(crate) outbox: Outbox,
    pub(crate) status: SharedStatus,
    pub(crate) stop: watch::Receiver<bool>,
}

/// How a session ended.
enum Outcome {
    Stopped,
    Ended(&'static str, String),
}

impl Network {
    fn set(&self, f: impl FnOnce(&mut NetworkStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Runs until stopped.
    pub(crate) async fn run(mut self) {
        let net = self.config.network.clone();
        let mut backoff = Duration::from_secs(1);
        let mut connections = 0u64;
        loop {
            connections += 1;
            self.set(|s| {
                s.state = "connecting";
                s.connections = connections;
            });
            let started = Instant::now();
            let outcome = match conn::connect(&self.config.server, self.tls.as_ref()).await {
                Ok(stream) => self.session(stream, connections).await,
                Err(e) => Outcome::Ended("connect", e.to_string()),
            };
            let (reason, detail) = match outcome {
                Outcome::Stopped => return,
                Outcome::Ended(reason, detail) => (reason, detail),
            };
            if started.elapsed() > STABLE {
                backoff = Duration::from_secs(1);
            }
            tracing::warn!(network = %net, server = %self.config.server, %reason, %detail, retry_in_ms = backoff.as_millis() as u64, "IRC connection ended");
            metrics::counter!("switchyard_irc_disconnects_total", "network" => net.clone(), "reason" => reason).increment(1);
            self.set(|s| {
                s.state = "waiting";
                s.channels.clear();
                s.last_error = Some(format!("{reason}: {detail}"));
            });
            let wake = Instant::now() + backoff;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(wake) => break,
                    _ = self.stop.changed() => return,
                    msg = self.outbound.recv() => match msg {
                        Some(m) => self.outbox.accept(m).await,
                        None => return self.lost_subscription(),
                    },
                }
            }
            backoff = (backoff * 2).min(self.config.reconnect_max());
        }
    }

    fn lost_subscription(&self) {
        tracing::error!(network = %self.config.network, "the outbound subscription closed; this network stops");
    }

    async fn session(&mut self, stream: Box<dyn Stream>, number: u64) -> Outcome {
        let net = self.config.network.clone();
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut session = Session::new(&self.config, self.sasl.clone());
        let session_id = format!("{}-{number}", unix_ms());
        self.set(|s| {
            s.state = "registering";
            s.nick = session.nick().to_owned();
        });
        for line in session.greeting() {
            if let Err(e) = write_line(&mut wr, &line).await {
                return Outcome::Ended("io", e.to_string());
            }
        }
        let mut lines = Lines::default();
        let mut buf = vec![0u8; 8192];
        let mut flood = Flood::new(
            self.config.send_interval(),
            self.config.send_burst,
            Instant::now(),
        );
        let ping = self.config.ping_interval();
        let (mut last_heard, mut pinged) = (Instant::now(), false);
        // A server that talks but never welcomes us (a stuck SASL exchange, say) is left
        // after as long as a silent one.
        let register_by = Instant::now() + ping;
        let mut upkeep = tokio::time::interval(UPKEEP);
        let (mut seq, mut bad, mut failures) = (0u64, 0u64, 0u64);
        let mut steps = Vec::new();
        loop {
            let ready = session.registered() && !self.outbox.is_empty();
            let send_at = Instant::now() + flood.wait(Instant::now());
            let ping_at = last_heard + if pinged { ping * 2 } else { ping };
            tokio::select! {
                _ = self.stop.changed() => {
                    let _ = write_line(&mut wr, "QUIT :switchyard stopping").await;
                    let _ = wr.shutdown().await;
                    return Outcome::Stopped;
                }
                read = rd.read(&mut buf) => {
                    let n = match read {
                        Ok(0) => return Outcome::Ended("closed", "the server closed the connection".into()),
                        Ok(n) => n,
                        Err(e) => return Outcome::Ended("io", e.to_string()),
                    };
                    (last_heard, pinged) = (Instant::now(), false);
                    lines.feed(&buf[..n]);
                    while let Some(line) = lines.next_line() {
                        let text = match line {
                            Line::Text(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                            Line::Overlong => {
                                self.bad_line(&mut bad, "a line over the length limit", "");
                                continue;
                            }
                        };
                        if let Err(e) = session.handle(&text, &mut steps) {
                            self.bad_line(&mut bad, &e, &text);
                        }
                        for step in steps.drain(..) {
                            match step {
                                Step::Send(l) => {
                                    if let Err(e) = write_line(&mut wr, &l).await {
                                        return Outcome::Ended("io", e.to_string());
                                    }
                                }
                                Step::Heard(h) => {
                                    seq += 1;
                                    publish(&self.broker, &net, &session, (&session_id, seq), h, &mut failures).await;
                                }
                                Step::Registered => self.set(|s| {
                                    s.state = "registered";
                                    s.nick = session.nick().to_owned();
                                }),
                                Step::End(end) => {
                                    let detail = format!("{end:?}");
                                    if end.label() == "killed" {
                                        metrics::counter!("switchyard_irc_kills_total", "network" => net.clone()).increment(1);
                                    }
                                    return Outcome::Ended(end.label(), detail);
                                }
                            }
                        }
                    }
                    let (nick, channels) = (session.nick().to_owned(), session.joined());
                    self.set(|s| {
                        s.nick = nick;
                        s.channels = channels;
                    });
                }
                msg = self.outbound.recv() => match msg {
                    Some(m) => {
                        self.outbox.accept(m).await;
                        let queued = self.outbox.len();
                        self.set(|s| s.queued = queued);
                    }
                    None => {
                        self.lost_subscription();
                        return Outcome::Stopped;
                    }
                },
                _ = tokio::time::sleep_until(send_at), if ready => {
                    let Some(p) = self.outbox.pop() else { continue };
                    let line = format!("PRIVMSG {} :{}", p.target, p.text);
                    if let Err(e) = write_line(&mut wr, &line).await {
                        return Outcome::Ended("io", e.to_string());
                    }
                    flood.spend(Instant::now());
                    metrics::counter!("switchyard_irc_messages_total", "network" => net.clone(), "direction" => "out").increment(1);
                    self.outbox.sent(p.reply_to.as_ref()).await;
                    let queued = self.outbox.len();
                    self.set(|s| s.queued = queued);
                }
                _ = tokio::time::sleep_until(ping_at) => {
                    if pinged {
                        return Outcome::Ended("ping_timeout", format!("no answer to PING in {} ms", ping.as_millis()));
                    }
                    pinged = true;
                    if let Err(e) = write_line(&mut wr, "PING :switchyard").await {
                        return Outcome::Ended("io", e.to_string());
                    }
                }
                _ = tokio::time::sleep_until(register_by), if !session.registered() => {
                    return Outcome::Ended("registration_timeout", format!("not registered within {} ms", ping.as_millis()));
                }
                _ = upkeep.tick() => {
                    for line in session.upkeep() {
                        if let Err(e) = write_line(&mut wr, &line).await {
                            return Outcome::Ended("io", e.to_string());
                        }
                    }
                }
            }
        }
    }

    fn bad_line(&self, bad: &mut u64, why: &str, line: &str) {
        *bad += 1;
        metrics::counter!("switchyard_irc_bad_lines_total", "network" => self.config.network.clone()).increment(1);
        // The first few of a session, then one in a thousand, so that a flood of garbage
        // does not flood the log.
        if *bad <= 10 || bad.is_multiple_of(1000) {
            let shown: String = line.chars().take(200).collect();
            tracing::warn!(network = %self.config.network, count = *bad, error = %why, line = %shown, "malformed line from the IRC server skipped");
        }
    }
}

/// Publishes what someone said, counted; a broker failure is logged and counted.
async fn publish(
    broker: &Arc<dyn Broker>,
    net: &str,
    session: &Session,
    (session_id, seq): (&str, u64),
    h: Heard,
    failures: &mut u64,
) {
    let said = Said {
        network: net,
        channel: h.channel.as_deref(),
        nick: &h.nick,
        user: &h.user,
        host: &h.host,
        text: &h.text,
        action: h.action,
        casemapping: session.casemapping(),
    };
    let topic = match event::topic(&said) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(network = %net, error = %e, "no topic for a message");
            return;
        }
    };
    let origin = Origin {
        network: net,
        session: session_id,
    };
    let payload = event::envelope(&origin, seq, &said, unix_ms());
    metrics::counter!("switchyard_irc_messages_total", "network" => net.to_owned(), "direction" => "in").increment(1);
    if let Err(e) = broker.publish(&topic, Bytes::from(payload)).await {
        metrics::counter!("switchyard_irc_publish_errors_total", "network" => net.to_owned())
            .increment(1);
        *failures += 1;
        // The first few, then one in a thousand, as for bad lines.
        if *failures <= 10 || failures.is_multiple_of(1000) {
            tracing::warn!(network = %net, %topic, error = %e, failures = *failures, "cannot publish an IRC message");
        }
    }
}

/// Writes one line, cut at the first CR or LF so that no text can add a command.
async fn write_line(wr: &mut WriteHalf<Box<dyn Stream>>, line: &str) -> std::io::Result<()> {
    let line = line.split(['\r', '\n']).next().unwrap_or("");
    let mut bytes = Vec::with_capacity(line.len() + 2);
    bytes.extend_from_slice(line.as_bytes());
    bytes.extend_from_slice(b"\r\n");
    tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(&bytes))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write took over 30 s"))?
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
