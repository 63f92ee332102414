//! One PUSH connection on the PULL endpoint: each `[topic, payload]` message is published on
//! the hub exactly as a Broker-API publish; anything else is dropped, logged and counted, and
//! the connection goes on. A payload over the limit is skipped without being buffered.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::{Shared, count_refused};
use crate::Topic;
use crate::zmtp::{self, SocketType, ZmtpError};

/// The longest topic frame read; a topic is at most 1024 bytes.
const MAX_TOPIC: u64 = switchyard_core::topic::MAX_NAME_LEN as u64;

/// Why one message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Not exactly two frames.
    Frames,
    /// The first frame is not a valid topic.
    Topic,
    /// The payload is over `broker.max_payload` (or the topic over 1024 bytes).
    TooLarge,
}

impl Refused {
    fn reason(self) -> &'static str {
        match self {
            Refused::Frames => "frames",
            Refused::Topic => "topic",
            Refused::TooLarge => "too_large",
        }
    }
}

pub(super) async fn run(
    shared: Arc<Shared>,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(error) = zmtp::handshake(&mut stream, SocketType::Pull).await {
        refuse_connection(peer, &error);
        return;
    }
    tracing::debug!(%peer, "ZeroMQ PUSH connected");
    let outcome = tokio::select! {
        _ = async { let _ = stop.wait_for(|stopped| *stopped).await; } => Ok(()),
        r = messages(&shared, peer, BufReader::new(stream)) => r,
    };
    match outcome {
        Ok(()) => {}
        Err(error) => refuse_connection(peer, &error),
    }
}

fn refuse_connection(peer: SocketAddr, error: &ZmtpError) {
    if matches!(error, ZmtpError::Io(_)) {
        tracing::debug!(%peer, %error, "ZeroMQ PUSH connection ended");
        return;
    }
    count_refused(error.kind());
    tracing::warn!(%peer, %error, "ZeroMQ PULL endpoint: connection refused and closed");
}

/// Reads messages until the peer goes or breaks the protocol.
async fn messages(
    shared: &Shared,
    peer: SocketAddr,
    mut read: BufReader<TcpStream>,
) -> Result<(), ZmtpError> {
    let max_payload = shared.hub.config().max_payload as u64;
    let mut refused = 0u64;
    loop {
        let mut frames: Vec<Bytes> = Vec::with_capacity(2);
        let mut problem = None;
        loop {
            let header = zmtp::read_header(&mut read).await?;
            if header.command {
                // Between messages a PUSH peer may only send heartbeats: answer PING.
                if !frames.is_empty() || problem.is_some() {
                    return Err(ZmtpError::Frame("a command inside a message"));
                }
                if header.len > zmtp::max_command() {
                    return Err(ZmtpError::Frame("command too long"));
                }
                let body = zmtp::read_body(&mut read, header.len).await?;
                if let Some(pong) = zmtp::pong_for(&body) {
                    let stream = read.get_mut();
                    zmtp::write_command(stream, &pong).await?;
                    stream.flush().await?;
                }
                continue;
            }
            let index = frames.len() + usize::from(problem.is_some());
            let limit = if index == 0 { MAX_TOPIC } else { max_payload };
            if index >= 2 {
                problem = Some(Refused::Frames);
                zmtp::skip_body(&mut read, header.len).await?;
            } else if header.len > limit {
                problem.get_or_insert(Refused::TooLarge);
                zmtp::skip_body(&mut read, header.len).await?;
            } else if problem.is_some() {
                zmtp::skip_body(&mut read, header.len).await?;
            } else {
                frames.push(zmtp::read_body(&mut read, header.len).await?);
            }
            if !header.more {
                break;
            }
        }
        let problem = problem.or_else(|| (frames.len() != 2).then_some(Refused::Frames));
        let outcome = match problem {
            Some(p) => Err(p),
            None => publish(shared, &frames[0], frames[1].clone()),
        };
        if let Err(p) = outcome {
            refused += 1;
            count_refused(p.reason());
            // The first refusal of a connection, then once per thousand.
            if refused == 1 || refused.is_multiple_of(1000) {
                let topic = frames
                    .first()
                    .map(|t| String::from_utf8_lossy(t).into_owned());
                tracing::warn!(
                    %peer,
                    reason = p.reason(),
                    topic = topic.as_deref().unwrap_or(""),
                    refused_on_connection = refused,
                    "ZeroMQ PULL endpoint dropped a message; expected [topic, payload] with a valid topic and a payload within broker.max_payload"
                );
            }
        }
    }
}

fn publish(shared: &Shared, topic: &[u8], payload: Bytes) -> Result<(), Refused> {
    let topic = std::str::from_utf8(topic).map_err(|_| Refused::Topic)?;
    let topic = Topic::new(topic).map_err(|_| Refused::Topic)?;
    shared
        .hub
        .publish(&topic, payload)
        .map(|_| ())
        .map_err(|_| Refused::TooLarge)
}
