//! Shared helpers of the RESP listener's tests: a listener on a private runtime, a raw
//! blocking RESP client, and a RESP2/RESP3 frame reader that keeps each frame's raw bytes.
#![allow(dead_code, missing_docs)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use switchyard_broker::embedded::resp::{RespConfig, RespServer, RespShutdown};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};

/// A RESP listener on its own runtime, stopped on drop.
pub struct Listener {
    pub addr: SocketAddr,
    pub broker: EmbeddedBroker,
    pub runtime: tokio::runtime::Runtime,
    stop: RespShutdown,
}

impl Listener {
    /// A listener on 127.0.0.1 with a free port and `config`'s other settings.
    pub fn start(mut config: RespConfig) -> Self {
        if config.bind.port() == 7379 {
            config.bind.set_port(0);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let broker = EmbeddedBroker::new(EmbeddedConfig::default());
        let server = runtime
            .block_on(RespServer::bind(&broker, config))
            .expect("bind the RESP listener");
        let addr = server.local_addr();
        let stop = server.shutdown_handle();
        runtime.spawn(server.serve());
        Listener {
            addr,
            broker,
            runtime,
            stop,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.shutdown();
    }
}

/// A parsed reply frame.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Frame {
    /// `+`, `-`, `:`, `_`, `,`, `#`, `(` and other one-line frames: the type byte and text.
    Line(u8, Vec<u8>),
    /// `$` and `=` (and `!`): the type byte and the data; `None` for `$-1`.
    Bulk(u8, Option<Vec<u8>>),
    /// `*`, `%`, `~`, `>`: the type byte and elements (a map's keys and values alternate).
    Aggregate(u8, Vec<Frame>),
}

impl Frame {
    /// The text of a line or bulk frame.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            Frame::Line(_, t) | Frame::Bulk(_, Some(t)) => Some(t),
            _ => None,
        }
    }
}

/// Parses one frame from `buf`; `Ok(None)` if incomplete. Returns the frame and its length.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    let Some(cr) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let kind = *buf.first().ok_or("empty")?;
    let line = &buf[1..cr];
    let number = || -> Result<i64, String> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(line)))
    };
    let after = cr + 2;
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            Ok(Some((Frame::Line(kind, line.to_vec()), after)))
        }
        b'$' | b'=' | b'!' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Frame::Bulk(kind, None), after)));
            }
            let n = n as usize;
            if buf.len() < after + n + 2 {
                return Ok(None);
            }
            Ok(Some((
                Frame::Bulk(kind, Some(buf[after..after + n].to_vec())),
                after + n + 2,
            )))
        }
        b'*' | b'%' | b'~' | b'>' => {
            let n = number()?;
            if n < 0 {
                return Ok(Some((Frame::Bulk(kind, None), after)));
            }
            let count = if kind == b'%' { 2 * n } else { n } as usize;
            let mut items = Vec::with_capacity(count);
            let mut at = after;
            for _ in 0..count {
                match parse_frame(&buf[at..])? {
                    Some((frame, used)) => {
                        items.push(frame);
                        at += used;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Frame::Aggregate(kind, items), at)))
        }
        other => Err(format!("unknown frame type {:?}", other as char)),
    }
}

/// A blocking raw RESP client.
pub struct RawClient {
    stream: TcpStream,
    buf: Vec<u8>,
    closed: bool,
}

impl RawClient {
    pub fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        RawClient {
            stream,
            buf: Vec::new(),
            closed: false,
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        // Writing to a connection the server closed may fail; the reads tell the story.
        let _ = self.stream.write_all(bytes);
    }

    /// Reads more bytes, waiting at most `timeout`; false on timeout or close.
    fn fill(&mut self, timeout: Duration) -> bool {
        if self.closed {
            return false;
        }
        self.stream
            .set_read_timeout(Some(timeout.max(Duration::from_millis(1))))
            .expect("timeout");
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => {
                self.closed = true;
                false
            }
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                false
            }
            Err(_) => {
                self.closed = true;
                false
            }
        }
    }

    /// The next frame with its raw bytes, or `None` if none arrives within `timeout`.
    pub fn frame(&mut self, timeout: Duration) -> Option<(Frame, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf).expect("well-formed reply") {
                let raw = self.buf.drain(..used).collect();
                return Some((frame, raw));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || (!self.fill(left) && self.closed) {
                return None;
            }
        }
    }

    /// Whether the server closed the connection (waiting up to `timeout`).
    pub fn is_closed(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while !self.closed && Instant::now() < deadline {
            self.fill(deadline.saturating_duration_since(Instant::now()));
        }
        self.closed && self.buf.is_empty()
    }

    /// Sends `PING marker` and returns every frame before its answer.
    pub fn sync(&mut self, marker: &str) -> Vec<(Frame, Vec<u8>)> {
        self.send(format!("PING {marker}\r\n").as_bytes());
        let mut frames = Vec::new();
        loop {
            let (frame, raw) = self
                .frame(Duration::from_secs(5))
                .unwrap_or_else(|| panic!("no answer to PING {marker}; got {frames:?}"));
            if raw.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                return frames;
            }
            frames.push((frame, raw));
        }
    }

    /// Every frame until the server closes the connection.
    pub fn until_closed(&mut self) -> Vec<(Frame, Vec<u8>)> {
        let mut frames = Vec::new();
        while let Some(f) = self.frame(Duration::from_secs(5)) {
            frames.push(f);
        }
        assert!(self.closed, "expected the server to close the connection");
        frames
    }
}

/// A RESP multibulk request.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
