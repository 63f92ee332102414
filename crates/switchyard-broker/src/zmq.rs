//! The `zmq://` backend: another Switchyard's ZeroMQ endpoints as a broker. Publishing is a
//! PUSH connection to the PULL endpoint; each subscription is a SUB connection to the PUB
//! endpoint, subscribed to the pattern's literal prefix (the segments before its first
//! wildcard) and then filtered with the exact pattern, as the Redis backend re-checks its
//! globs. URL: `zmq://host:PUB_PORT?pull=PULL_PORT` (`pull` defaults to the PUB port + 1).
//!
//! ZeroMQ has no queue groups and no durable delivery: those answer
//! [`BrokerError::Unsupported`]. Keyed groups work as on the other plain backends (members
//! agree over heartbeat topics). Connections that break are made again with the retry
//! policy's delays; what is published to a subscription meanwhile is lost (at-most-once).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, mpsc};

use crate::zmtp::{self, SYNC_PREFIX, SocketType, ZmtpError};
use crate::{
    Broker, BrokerError, BrokerOptions, BrokerUrl, Capabilities, Message, Pattern, RetryPolicy,
    Subscription, Topic,
};

const BACKEND: &str = "zmq";
const HINT: &str = "that a switchyard with broker.zmq_pub and broker.zmq_pull set runs there";

/// A broker reached through another Switchyard's ZeroMQ endpoints.
#[derive(Debug, Clone)]
pub struct ZmqBroker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pub_addr: String,
    pull_addr: String,
    redacted: String,
    max_payload: usize,
    buffer: usize,
    retry: RetryPolicy,
    push: Mutex<Option<BufWriter<TcpStream>>>,
    syncs: AtomicU64,
}

impl ZmqBroker {
    /// Connects the PUSH side (with `options.retry`); subscriptions connect on their own.
    pub async fn from_url(url: &BrokerUrl, options: &BrokerOptions) -> Result<Self, BrokerError> {
        let server = url.server();
        let rest = server.strip_prefix("zmq://").unwrap_or(server);
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let bad = |why: &str| BrokerError::Config(format!("{}: {why}", url.redacted()));
        let (host, port) = authority
            .rsplit_once(':')
            .ok_or_else(|| bad("expected zmq://host:PUB_PORT?pull=PULL_PORT"))?;
        let pub_port: u16 = port
            .parse()
            .map_err(|_| bad("the PUB port is not a port"))?;
        let mut pull_port = pub_port.checked_add(1).ok_or_else(|| bad("no PULL port"))?;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("pull", v)) => {
                    pull_port = v.parse().map_err(|_| bad("pull= is not a port"))?;
                }
                _ => return Err(bad("the only zmq:// option is pull=PORT")),
            }
        }
        if options.durable.enabled {
            return Err(BrokerError::Unsupported {
                backend: BACKEND,
                what: "durable mode (ZeroMQ has no durable delivery; use redis or nats)",
            });
        }
        let inner = Inner {
            pub_addr: format!("{host}:{pub_port}"),
            pull_addr: format!("{host}:{pull_port}"),
            redacted: url.redacted(),
            max_payload: options.max_payload,
            buffer: options.subscriber_buffer.max(1),
            retry: options.retry,
            push: Mutex::new(None),
            syncs: AtomicU64::new(0),
        };
        let mut attempt = 0;
        let push = loop {
            attempt += 1;
            match inner.connect(&inner.pull_addr, SocketType::Push).await {
                Ok(stream) => break stream,
                Err(e) if inner.retry.may_retry(attempt) => {
                    tracing::debug!(error = %e, attempt, "ZeroMQ PULL endpoint not reachable yet");
                    tokio::time::sleep(inner.retry.delay(attempt)).await;
                }
                Err(e) => return Err(inner.unreachable(attempt, &e)),
            }
        };
        *inner.push.lock().await = Some(BufWriter::new(push));
        Ok(ZmqBroker {
            inner: Arc::new(inner),
        })
    }
}

impl Inner {
    async fn connect(&self, addr: &str, kind: SocketType) -> Result<TcpStream, ZmtpError> {
        let mut stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        zmtp::handshake(&mut stream, kind).await?;
        Ok(stream)
    }

    fn unreachable(&self, attempts: u32, error: &ZmtpError) -> BrokerError {
        BrokerError::Unreachable {
            url: self.redacted.clone(),
            attempts,
            detail: error.to_string(),
            hint: HINT,
        }
    }

    /// A SUB connection subscribed to `prefix`, returned once the endpoint has the
    /// subscription (its sync message came back). Messages that arrive before the sync are
    /// not delivered: they were published before `subscribe` returned.
    async fn subscribed(&self, prefix: &[u8]) -> Result<BufReader<TcpStream>, ZmtpError> {
        let mut stream = self.connect(&self.pub_addr, SocketType::Sub).await?;
        let mut sync = SYNC_PREFIX.to_vec();
        let n = self.syncs.fetch_add(1, Ordering::Relaxed);
        sync.extend_from_slice(n.to_string().as_bytes());
        zmtp::write_subscription(&mut stream, true, prefix).await?;
        zmtp::write_subscription(&mut stream, true, &sync).await?;
        stream.flush().await?;
        let mut read = BufReader::new(stream);
        let wait = async {
            loop {
                let (topic, _) = read_message(&mut read, self.max_payload).await?;
                if topic.as_deref() == Some(&sync[..]) {
                    return Ok::<_, ZmtpError>(());
                }
            }
        };
        tokio::time::timeout(zmtp::HANDSHAKE_TIMEOUT, wait)
            .await
            .map_err(|_| ZmtpError::Timeout)??;
        zmtp::write_subscription(read.get_mut(), false, &sync).await?;
        read.get_mut().flush().await?;
        Ok(read)
    }

    /// Writes one message on the PUSH connection, connecting first if needed.
    async fn push(&self, topic: &Topic, payload: &[u8]) -> Result<(), ZmtpError> {
        let mut guard = self.push.lock().await;
        // Taken out while writing: a connection that fails is not put back.
        let mut w = match guard.take() {
            Some(w) => w,
            None => BufWriter::new(self.connect(&self.pull_addr, SocketType::Push).await?),
        };
        zmtp::write_message(&mut w, topic.as_str().as_bytes(), payload).await?;
        w.flush().await?;
        *guard = Some(w);
        Ok(())
    }
}

/// Reads one message: `(Some(topic), payload)` for a two-frame message, `(None, _)` for
/// anything else (skipped). Commands are skipped.
async fn read_message(
    read: &mut BufReader<TcpStream>,
    max_payload: usize,
) -> Result<(Option<Bytes>, Bytes), ZmtpError> {
    let mut frames = Vec::with_capacity(2);
    let mut oversized = false;
    loop {
        let header = zmtp::read_header(read).await?;
        if header.command {
            zmtp::skip_body(read, header.len).await?;
            continue;
        }
        if frames.len() >= 2 || header.len > max_payload as u64 + 4096 {
            oversized = true;
            zmtp::skip_body(read, header.len).await?;
        } else {
            frames.push(zmtp::read_body(read, header.len).await?);
        }
        if !header.more {
            break;
        }
    }
    if oversized || frames.len() != 2 {
        return Ok((None, Bytes::new()));
    }
    let payload = frames.pop().unwrap_or_default();
    Ok((frames.pop(), payload))
}

/// The literal prefix of a pattern: its segments before the first wildcard.
fn literal_prefix(pattern: &Pattern) -> String {
    let mut prefix = String::new();
    let segments: Vec<&str> = pattern.as_str().split('.').collect();
    let wild = segments.iter().position(|s| *s == "*" || *s == ">");
    match wild {
        None => prefix.push_str(pattern.as_str()),
        Some(i) => {
            for s in &segments[..i] {
                prefix.push_str(s);
                prefix.push('.');
            }
        }
    }
    prefix
}

/// Delivers one subscription's messages, reconnecting with the retry delays when the
/// connection breaks, until the subscriber goes away.
async fn pump(
    inner: Arc<Inner>,
    pattern: Pattern,
    prefix: String,
    mut read: BufReader<TcpStream>,
    tx: mpsc::Sender<Message>,
) {
    let mut dropped = 0u64;
    loop {
        let error = loop {
            let (topic, payload) = tokio::select! {
                _ = tx.closed() => return,
                r = read_message(&mut read, inner.max_payload) => match r {
                    Ok(m) => m,
                    Err(e) => break e,
                },
            };
            let Some(topic) = topic else { continue };
            let Ok(text) = std::str::from_utf8(&topic) else {
                continue;
            };
            if !pattern.matches(text) {
                continue;
            }
            let Ok(topic) = Topic::new(text) else {
                continue;
            };
            match tx.try_send(Message { topic, payload }) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    metrics::counter!("switchyard_broker_dropped_total", "backend" => BACKEND)
                        .increment(1);
                    dropped += 1;
                    // The first drop, then once per thousand.
                    if dropped == 1 || dropped.is_multiple_of(1000) {
                        tracing::warn!(
                            %pattern,
                            dropped,
                            "subscriber too slow; its buffer is full and messages for it are dropped"
                        );
                    }
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
            }
        };
        tracing::warn!(%pattern, %error, url = %inner.redacted, "ZeroMQ subscription lost; reconnecting");
        let mut attempt = 0;
        read = loop {
            attempt += 1;
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(inner.retry.delay(attempt)) => {}
            }
            match inner.subscribed(prefix.as_bytes()).await {
                Ok(read) => break read,
                Err(e) => tracing::debug!(error = %e, attempt, "ZeroMQ PUB endpoint not back yet"),
            }
        };
        tracing::info!(%pattern, "ZeroMQ subscription restored");
    }
}

/// Stops a subscription's task when the subscription is dropped.
struct Abort(tokio::task::AbortHandle);

impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[async_trait]
impl Broker for ZmqBroker {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            fan_out: true,
            queue_groups: false,
            durable: false,
            keyed_partitioning: true,
            deduplication: false,
        }
    }

    /// Returns once the message is written to the PULL connection. A broken connection is
    /// made again once; if that fails too, the message is not sent.
    async fn publish(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        if payload.len() > self.inner.max_payload {
            return Err(BrokerError::TooLarge {
                backend: BACKEND,
                size: payload.len(),
                max: self.inner.max_payload,
            });
        }
        let first = match self.inner.push(topic, &payload).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        tracing::debug!(error = %first, "ZeroMQ PUSH connection lost; connecting again");
        self.inner
            .push(topic, &payload)
            .await
            .map_err(|e| BrokerError::Disconnected {
                backend: BACKEND,
                detail: format!("{} ({e})", self.inner.redacted),
            })
    }

    async fn subscribe(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        let prefix = literal_prefix(pattern);
        let read = self
            .inner
            .subscribed(prefix.as_bytes())
            .await
            .map_err(|e| self.inner.unreachable(1, &e))?;
        let (tx, rx) = mpsc::channel(self.inner.buffer);
        let task = tokio::spawn(pump(
            Arc::clone(&self.inner),
            pattern.clone(),
            prefix,
            read,
            tx,
        ));
        Ok(Subscription::new(rx, Abort(task.abort_handle())))
    }

    async fn subscribe_group(
        &self,
        _pattern: &Pattern,
        _group: &str,
    ) -> Result<Subscription, BrokerError> {
        Err(BrokerError::Unsupported {
            backend: BACKEND,
            what: "queue groups (a PUB socket sends every message to every subscriber)",
        })
    }

    async fn subscribe_keyed(
        &self,
        pattern: &Pattern,
        group: &str,
        key: crate::PartitionKey,
    ) -> Result<Subscription, BrokerError> {
        let source = self.subscribe(pattern).await?;
        crate::keyed::plain(
            Arc::new(self.clone()),
            source,
            group,
            key,
            self.inner.buffer,
        )
        .await
    }
}

#[async_trait]
impl crate::keyed::Beacon for ZmqBroker {
    async fn announce(&self, topic: &Topic, payload: Bytes) -> Result<(), BrokerError> {
        self.publish(topic, payload).await
    }

    async fn listen(&self, pattern: &Pattern) -> Result<Subscription, BrokerError> {
        self.subscribe(pattern).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_stop_at_the_first_wildcard() {
        let p = |s: &str| literal_prefix(&s.parse().expect("pattern"));
        assert_eq!(p("inbound.discord.>"), "inbound.discord.");
        assert_eq!(p("a.*.c"), "a.");
        assert_eq!(p(">"), "");
        assert_eq!(p("a.b"), "a.b");
    }

    #[tokio::test]
    async fn bad_urls_and_durable_mode_are_refused_before_connecting() {
        let options = BrokerOptions::default();
        for (url, expect) in [
            ("zmq://127.0.0.1", "PUB_PORT"),
            ("zmq://127.0.0.1:x", "not a port"),
            ("zmq://127.0.0.1:7381?pull=y", "pull="),
            ("zmq://127.0.0.1:7381?hwm=3", "only zmq:// option"),
        ] {
            let url = BrokerUrl::parse(url).expect("a zmq URL");
            let e = ZmqBroker::from_url(&url, &options)
                .await
                .expect_err("refused");
            assert!(matches!(e, BrokerError::Config(_)), "{e}");
            assert!(e.to_string().contains(expect), "{e}");
        }
        let mut durable = options.clone();
        durable.durable.enabled = true;
        let url = BrokerUrl::parse("zmq://127.0.0.1:7381").expect("a zmq URL");
        let e = ZmqBroker::from_url(&url, &durable)
            .await
            .expect_err("no durable mode");
        assert!(matches!(e, BrokerError::Unsupported { .. }), "{e}");
    }
}
