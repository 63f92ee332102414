//! ZMTP 3.0 with the NULL mechanism: the greeting, the READY handshake and the framing that
//! ZeroMQ sockets speak over TCP (rfc.zeromq.org, 23/ZMTP). The embedded broker's ZeroMQ
//! endpoints and the `zmq://` client backend both use it; nothing here knows about topics.
//!
//! We announce version 3.0, so libzmq peers (pyzmq, ZMQ.jl, czmq…) send subscriptions as
//! messages whose first byte is 1 (subscribe) or 0 (cancel); the 3.1 SUBSCRIBE and CANCEL
//! commands are understood as well, and PING heartbeats are answered. A frame's length is read before its body, so a caller can
//! skip an oversized body without buffering it.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long a peer may take over the greeting and READY before it is dropped.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A subscription that starts with this asks for a sync message: the endpoint answers this
/// connection alone with `[prefix, ""]` once every subscription sent before it is in place.
/// Switchyard's `zmq://` backend uses it so that `subscribe` returns only once subscribed;
/// no topic starts with a NUL byte, so other clients never meet it.
pub(crate) const SYNC_PREFIX: &[u8] = b"\0switchyard-sync.";

/// The largest command body (READY with its properties, SUBSCRIBE…) accepted.
const MAX_COMMAND: u64 = 64 * 1024;

/// Flag bits of a frame.
const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// ZeroMQ socket types, as READY names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SocketType {
    Pub,
    Sub,
    Push,
    Pull,
}

impl SocketType {
    fn name(self) -> &'static [u8] {
        match self {
            SocketType::Pub => b"PUB",
            SocketType::Sub => b"SUB",
            SocketType::Push => b"PUSH",
            SocketType::Pull => b"PULL",
        }
    }

    /// The peer socket types this one talks to (ZMTP's compatibility table).
    fn accepts(self, peer: &[u8]) -> bool {
        let ok: &[&[u8]] = match self {
            SocketType::Pub => &[b"SUB", b"XSUB"],
            SocketType::Sub => &[b"PUB", b"XPUB"],
            SocketType::Push => &[b"PULL"],
            SocketType::Pull => &[b"PUSH"],
        };
        ok.contains(&peer)
    }
}

/// What went wrong on a ZMTP connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ZmtpError {
    /// The socket failed or the peer closed it.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The peer's greeting is not ZMTP 3 (garbage, HTTP, an old ZeroMQ).
    #[error("not a ZMTP 3 greeting")]
    Greeting,
    /// The peer asks for a security mechanism other than NULL (CURVE, PLAIN).
    #[error("the peer asks for the {0} security mechanism; only NULL is offered")]
    Mechanism(String),
    /// The handshake broke the protocol: no READY, a malformed one, or an ERROR command.
    #[error("handshake: {0}")]
    Handshake(String),
    /// The peer's socket type cannot talk to ours (a PUSH connecting to a PUB port…).
    #[error("a {peer} socket cannot connect to a {ours} socket")]
    SocketType {
        /// The peer's type.
        peer: String,
        /// Ours.
        ours: &'static str,
    },
    /// A frame with reserved flag bits set, or a command too long.
    #[error("malformed frame: {0}")]
    Frame(&'static str),
    /// The peer went past one of our limits (too many subscriptions).
    #[error("limit: {0}")]
    Limit(&'static str),
    /// No greeting and READY within [`HANDSHAKE_TIMEOUT`].
    #[error("no handshake within {HANDSHAKE_TIMEOUT:?}")]
    Timeout,
}

impl ZmtpError {
    /// A short label for metrics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ZmtpError::Io(_) => "io",
            ZmtpError::Greeting | ZmtpError::Timeout => "greeting",
            ZmtpError::Mechanism(_) => "mechanism",
            ZmtpError::Handshake(_) | ZmtpError::SocketType { .. } => "handshake",
            ZmtpError::Frame(_) => "frame",
            ZmtpError::Limit(_) => "limit",
        }
    }
}

/// Our greeting: signature, version 3.0, NULL, not a server (NULL ignores the flag).
fn greeting() -> [u8; 64] {
    let mut g = [0u8; 64];
    g[0] = 0xff;
    g[8] = 0x01;
    g[9] = 0x7f;
    g[10] = 3;
    g[11] = 0;
    g[12..16].copy_from_slice(b"NULL");
    g
}

/// Greets the peer and exchanges READY: ours names `ours`, the peer's must be compatible.
/// Bounded by [`HANDSHAKE_TIMEOUT`].
pub(crate) async fn handshake<S>(stream: &mut S, ours: SocketType) -> Result<(), ZmtpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake_inner(stream, ours))
        .await
        .map_err(|_| ZmtpError::Timeout)?
}

async fn handshake_inner<S>(stream: &mut S, ours: SocketType) -> Result<(), ZmtpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&greeting()).await?;
    let mut peer = [0u8; 64];
    stream.read_exact(&mut peer[..10]).await?;
    if peer[0] != 0xff || peer[9] & 1 != 1 {
        return Err(ZmtpError::Greeting);
    }
    stream.read_exact(&mut peer[10..]).await?;
    if peer[10] < 3 {
        return Err(ZmtpError::Greeting);
    }
    let mechanism = &peer[12..32];
    let end = mechanism.iter().position(|&b| b == 0).unwrap_or(20);
    if &mechanism[..end] != b"NULL" {
        return Err(ZmtpError::Mechanism(
            String::from_utf8_lossy(&mechanism[..end]).into_owned(),
        ));
    }
    let mut ready = Vec::with_capacity(32);
    ready.push(5);
    ready.extend_from_slice(b"READY");
    ready.push(11);
    ready.extend_from_slice(b"Socket-Type");
    let name = ours.name();
    ready.extend_from_slice(&(name.len() as u32).to_be_bytes());
    ready.extend_from_slice(name);
    write_frame(stream, COMMAND, &ready).await?;
    stream.flush().await?;
    let header = read_header(stream).await?;
    if !header.command || header.len > MAX_COMMAND {
        return Err(ZmtpError::Handshake("expected READY".into()));
    }
    let body = read_body(stream, header.len).await?;
    let (name, props) = command_name(&body)?;
    if name == b"ERROR" {
        let reason = props.get(1..).unwrap_or_default();
        return Err(ZmtpError::Handshake(format!(
            "the peer sent ERROR: {}",
            String::from_utf8_lossy(reason)
        )));
    }
    if name != b"READY" {
        return Err(ZmtpError::Handshake("expected READY".into()));
    }
    let peer_type = socket_type(props)?;
    if !ours.accepts(peer_type) {
        return Err(ZmtpError::SocketType {
            peer: String::from_utf8_lossy(peer_type).into_owned(),
            ours: std::str::from_utf8(ours.name()).unwrap_or("?"),
        });
    }
    Ok(())
}

/// Splits a command body into its name and the rest.
pub(crate) fn command_name(body: &[u8]) -> Result<(&[u8], &[u8]), ZmtpError> {
    let len = *body.first().ok_or(ZmtpError::Frame("empty command"))? as usize;
    let name = body
        .get(1..1 + len)
        .ok_or(ZmtpError::Frame("command name cut short"))?;
    Ok((name, &body[1 + len..]))
}

/// The `Socket-Type` property of a READY command's metadata.
fn socket_type(mut props: &[u8]) -> Result<&[u8], ZmtpError> {
    let bad = || ZmtpError::Handshake("malformed READY metadata".into());
    let mut found = None;
    while !props.is_empty() {
        let name_len = props[0] as usize;
        let name = props.get(1..1 + name_len).ok_or_else(bad)?;
        let rest = &props[1 + name_len..];
        let len_bytes: [u8; 4] = rest
            .get(..4)
            .ok_or_else(bad)?
            .try_into()
            .map_err(|_| bad())?;
        let value_len = u32::from_be_bytes(len_bytes) as usize;
        let value = rest.get(4..4 + value_len).ok_or_else(bad)?;
        if name.eq_ignore_ascii_case(b"Socket-Type") {
            found = Some(value);
        }
        props = &rest[4 + value_len..];
    }
    found.ok_or_else(|| ZmtpError::Handshake("READY without Socket-Type".into()))
}

/// A frame's header: what it is and how long its body is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    /// Another frame of the same message follows.
    pub(crate) more: bool,
    /// A command, not a message frame.
    pub(crate) command: bool,
    /// The body's length; the body has not been read yet.
    pub(crate) len: u64,
}

/// Reads one frame header. Reserved flag bits are refused.
pub(crate) async fn read_header<R: AsyncRead + Unpin>(r: &mut R) -> Result<Header, ZmtpError> {
    let flags = r.read_u8().await?;
    if flags & !(MORE | LONG | COMMAND) != 0 {
        return Err(ZmtpError::Frame("reserved flag bits set"));
    }
    let len = if flags & LONG != 0 {
        r.read_u64().await?
    } else {
        u64::from(r.read_u8().await?)
    };
    let command = flags & COMMAND != 0;
    if command && flags & MORE != 0 {
        return Err(ZmtpError::Frame("a command with the MORE flag"));
    }
    Ok(Header {
        more: flags & MORE != 0,
        command,
        len,
    })
}

/// Reads a body of `len` bytes; the caller has checked `len` against its limit.
pub(crate) async fn read_body<R: AsyncRead + Unpin>(
    r: &mut R,
    len: u64,
) -> Result<Bytes, ZmtpError> {
    let len = usize::try_from(len).map_err(|_| ZmtpError::Frame("frame too long"))?;
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok(body.into())
}

/// Reads and discards a body of `len` bytes, a chunk at a time.
pub(crate) async fn skip_body<R: AsyncRead + Unpin>(r: &mut R, len: u64) -> Result<(), ZmtpError> {
    let copied = tokio::io::copy(&mut r.take(len), &mut tokio::io::sink()).await?;
    if copied < len {
        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
    }
    Ok(())
}

/// Writes one frame (flags without LONG: it is set here when the body needs it).
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    flags: u8,
    body: &[u8],
) -> std::io::Result<()> {
    if body.len() > 255 {
        w.write_u8(flags | LONG).await?;
        w.write_u64(body.len() as u64).await?;
    } else {
        w.write_u8(flags).await?;
        w.write_u8(body.len() as u8).await?;
    }
    w.write_all(body).await
}

/// Writes a two-frame message `[topic, payload]` (not flushed).
pub(crate) async fn write_message<W: AsyncWrite + Unpin>(
    w: &mut W,
    topic: &[u8],
    payload: &[u8],
) -> std::io::Result<()> {
    write_frame(w, MORE, topic).await?;
    write_frame(w, 0, payload).await
}

/// Writes a subscription (`subscribe` true) or its cancellation for `prefix`, as a ZMTP 3.0
/// message (not flushed).
pub(crate) async fn write_subscription<W: AsyncWrite + Unpin>(
    w: &mut W,
    subscribe: bool,
    prefix: &[u8],
) -> std::io::Result<()> {
    let mut body = Vec::with_capacity(prefix.len() + 1);
    body.push(u8::from(subscribe));
    body.extend_from_slice(prefix);
    write_frame(w, 0, &body).await
}

/// The PONG that answers a PING command body (ZMTP 3.1 heartbeats, which libzmq sends when
/// `ZMQ_HEARTBEAT_IVL` is set), or `None` for any other command.
pub(crate) fn pong_for(body: &[u8]) -> Option<Vec<u8>> {
    let (name, rest) = command_name(body).ok()?;
    if name != b"PING" {
        return None;
    }
    // PING: a 2-byte TTL, then up to 16 bytes of context that PONG echoes.
    let context = rest.get(2..).unwrap_or_default();
    let context = &context[..context.len().min(16)];
    let mut pong = Vec::with_capacity(5 + context.len());
    pong.push(4);
    pong.extend_from_slice(b"PONG");
    pong.extend_from_slice(context);
    Some(pong)
}

/// Writes a command frame (not flushed).
pub(crate) async fn write_command<W: AsyncWrite + Unpin>(
    w: &mut W,
    body: &[u8],
) -> std::io::Result<()> {
    write_frame(w, COMMAND, body).await
}

/// The largest command body callers should read; longer ones are a protocol error.
pub(crate) const fn max_command() -> u64 {
    MAX_COMMAND
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_ends_handshake_and_frame() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let (ra, rb) = tokio::join!(
            handshake(&mut a, SocketType::Push),
            handshake(&mut b, SocketType::Pull)
        );
        ra.expect("push side");
        rb.expect("pull side");
        write_message(&mut a, b"t.x", &[7u8; 300])
            .await
            .expect("write");
        let h = read_header(&mut b).await.expect("header");
        assert!(h.more && !h.command && h.len == 3);
        assert_eq!(&read_body(&mut b, h.len).await.expect("body")[..], b"t.x");
        let h = read_header(&mut b).await.expect("header");
        assert!(!h.more && h.len == 300);
        skip_body(&mut b, h.len).await.expect("skipped");
    }

    #[tokio::test]
    async fn incompatible_sockets_and_garbage_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(4096);
        let (ra, _) = tokio::join!(
            handshake(&mut a, SocketType::Pull),
            handshake(&mut b, SocketType::Sub)
        );
        assert!(matches!(ra, Err(ZmtpError::SocketType { .. })), "{ra:?}");
        let (mut a, mut b) = tokio::io::duplex(4096);
        b.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        let r = handshake(&mut a, SocketType::Pull).await;
        assert!(matches!(r, Err(ZmtpError::Greeting)), "{r:?}");
    }
}
