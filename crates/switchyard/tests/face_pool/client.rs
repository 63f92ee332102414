//! A raw tokio-tungstenite client of the face, as a bot library would drive it: HELLO,
//! IDENTIFY or RESUME, heartbeats, and every dispatch it gets recorded with its sequence.
//! Its TCP connection can be cut abruptly (a reset, no close frame), and it resumes after
//! any disconnection with the last sequence it saw.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One dispatch as the client got it.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub s: u64,
    pub t: String,
    pub d: Value,
}

/// What came from the face.
#[derive(Debug)]
pub enum Frame {
    /// A dispatch (already recorded).
    Dispatch(Dispatch),
    /// Another opcode.
    Op(u64, Value),
    /// The connection ended, with the close code if there was one.
    Closed(Option<u16>),
}

/// How a RESUME went.
#[derive(Debug, PartialEq, Eq)]
pub enum Resumed {
    /// RESUMED came (after the replay, which is recorded).
    Yes,
    /// INVALID_SESSION (`d: false`).
    Refused,
}

pub struct Client {
    pub name: String,
    url: String,
    token: String,
    intents: u64,
    ws: Option<Ws>,
    pub session_id: String,
    /// The last sequence seen.
    pub seq: u64,
    /// Every dispatch of the current session, in the order received.
    pub seen: Vec<Dispatch>,
    /// Connections opened.
    pub connections: u32,
    last_beat: Instant,
}

impl Client {
    pub fn new(name: &str, url: &str, token: &str, intents: u64) -> Client {
        Client {
            name: name.to_owned(),
            url: url.to_owned(),
            token: token.to_owned(),
            intents,
            ws: None,
            session_id: String::new(),
            seq: 0,
            seen: Vec::new(),
            connections: 0,
            last_beat: Instant::now(),
        }
    }

    /// Connects (retrying while the face is not listening) and reads HELLO.
    async fn open(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut ws = loop {
            match tokio_tungstenite::connect_async(self.url.as_str()).await {
                Ok((ws, _)) => break ws,
                Err(error) => {
                    assert!(
                        Instant::now() < deadline,
                        "{}: cannot connect to the face: {error}",
                        self.name
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let hello = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("HELLO in time")
            .expect("HELLO")
            .expect("HELLO frame");
        let hello: Value = serde_json::from_str(hello.to_text().expect("text")).expect("json");
        assert_eq!(hello["op"], 10, "{}: {hello}", self.name);
        self.ws = Some(ws);
        self.connections += 1;
        self.last_beat = Instant::now();
    }

    async fn send(&mut self, v: Value) {
        if let Some(ws) = self.ws.as_mut() {
            // a failed send shows as a closed connection on the next read
            let _ = ws.send(Message::text(v.to_string())).await;
        }
    }

    async fn send_identify(&mut self) {
        let identify = json!({"op": 2, "d": {
            "token": self.token, "intents": self.intents, "large_threshold": 250,
            "properties": {"os": "linux", "browser": "face-pool", "device": "face-pool"},
        }});
        self.send(identify).await;
    }

    /// Connects and identifies; returns READY's `d` (retrying while the face cannot build
    /// a READY yet, e.g. its cache source not ready).
    pub async fn identify(&mut self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.ws.is_none() {
                self.open().await;
            }
            self.send_identify().await;
            if let Some(ready) = self.await_ready().await {
                return ready;
            }
            assert!(Instant::now() < deadline, "{}: no READY in 60 s", self.name);
            self.ws = None;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// After an IDENTIFY: READY's `d`, or `None` if the connection ended.
    async fn await_ready(&mut self) -> Option<Value> {
        loop {
            match self.next(Duration::from_secs(30)).await {
                Some(Frame::Dispatch(d)) if d.t == "READY" => {
                    self.session_id = d.d["session_id"].as_str().expect("session_id").into();
                    return Some(d.d);
                }
                Some(Frame::Closed(_)) => return None,
                None => panic!("{}: nothing after IDENTIFY for 30 s", self.name),
                Some(_) => {}
            }
        }
    }

    /// Reads until a GUILD_CREATE of every guild in `guilds` came; else says which did not.
    pub async fn await_guilds(&mut self, guilds: &[u64]) -> Result<(), String> {
        let have = |seen: &[Dispatch], g: u64| {
            seen.iter().any(|d| {
                d.t == "GUILD_CREATE" && d.d["id"].as_str() == Some(g.to_string().as_str())
            })
        };
        while let Some(missing) = guilds.iter().find(|g| !have(&self.seen, **g)) {
            match self.next(Duration::from_secs(30)).await {
                Some(Frame::Closed(code)) => {
                    return Err(format!(
                        "{}: closed ({code:?}) before guild {missing}",
                        self.name
                    ));
                }
                None => {
                    return Err(format!(
                        "{}: no GUILD_CREATE of {missing} in 30 s",
                        self.name
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Reconnects and resumes with the last sequence seen.
    pub async fn resume(&mut self) -> Resumed {
        self.ws = None;
        self.open().await;
        let resume = json!({"op": 6, "d": {
            "token": self.token, "session_id": self.session_id, "seq": self.seq,
        }});
        self.send(resume).await;
        loop {
            match self.next(Duration::from_secs(30)).await {
                Some(Frame::Dispatch(d)) if d.t == "RESUMED" => return Resumed::Yes,
                Some(Frame::Op(9, _)) => return Resumed::Refused,
                Some(Frame::Closed(code)) => {
                    panic!("{}: closed ({code:?}) after RESUME", self.name)
                }
                None => panic!("{}: nothing after RESUME for 30 s", self.name),
                Some(_) => {}
            }
        }
    }

    /// After INVALID_SESSION, identifies again on the same connection: a new session.
    pub async fn identify_again(&mut self) -> Value {
        self.seen.clear();
        self.seq = 0;
        self.send_identify().await;
        match self.await_ready().await {
            Some(ready) => ready,
            None => self.identify().await,
        }
    }

    /// The next frame within `within` (`None`: nothing came), heartbeating as it goes.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if self.last_beat.elapsed() > Duration::from_secs(5) {
                let beat = json!({"op": 1, "d": self.seq});
                self.send(beat).await;
                self.last_beat = Instant::now();
            }
            let Some(ws) = self.ws.as_mut() else {
                return Some(Frame::Closed(None));
            };
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            let msg = match tokio::time::timeout(wait, ws.next()).await {
                Err(_) if Instant::now() >= deadline => return None,
                Err(_) => continue,
                Ok(msg) => msg,
            };
            let text = match msg {
                Some(Ok(Message::Text(t))) => t.to_string(),
                Some(Ok(Message::Binary(b))) => String::from_utf8(b.to_vec()).expect("utf-8"),
                Some(Ok(Message::Close(frame))) => {
                    self.ws = None;
                    return Some(Frame::Closed(frame.map(|f| u16::from(f.code))));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.ws = None;
                    return Some(Frame::Closed(None));
                }
            };
            let v: Value = serde_json::from_str(&text).expect("JSON from the face");
            let op = v["op"].as_u64().expect("op");
            if op == 11 {
                continue;
            }
            if op != 0 {
                return Some(Frame::Op(op, v["d"].clone()));
            }
            let dispatch = Dispatch {
                s: v["s"].as_u64().expect("s"),
                t: v["t"].as_str().expect("t").to_owned(),
                d: v["d"].clone(),
            };
            if dispatch.t == "READY" {
                self.seen.clear();
            }
            self.seq = dispatch.s;
            self.seen.push(dispatch.clone());
            return Some(Frame::Dispatch(dispatch));
        }
    }

    /// Leaves the connection open but silent (never read, never closed), as a client whose
    /// network went away without a word: the caller keeps it alive.
    pub fn freeze(&mut self) -> Option<Ws> {
        self.ws.take()
    }

    /// Drops the TCP connection abruptly: a reset, no close frame.
    pub fn cut(&mut self) {
        if let Some(ws) = self.ws.take()
            && let MaybeTlsStream::Plain(tcp) = ws.get_ref()
        {
            tcp.set_zero_linger().expect("SO_LINGER 0");
        }
    }

    /// Reads (resuming after any disconnection) until `done` holds of what it saw, or
    /// fails after `secs`. Returns how many times it had to resume.
    pub async fn read_until(
        &mut self,
        secs: u64,
        mut done: impl FnMut(&[Dispatch]) -> bool,
    ) -> u32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut resumes = 0;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: not done in {secs} s", self.name);
            match self.next(left.min(Duration::from_secs(5))).await {
                Some(Frame::Closed(code)) => {
                    eprintln!("{}: closed ({code:?}); resuming", self.name);
                    let resumed = self.resume().await;
                    assert_eq!(resumed, Resumed::Yes, "{}: RESUME refused", self.name);
                    resumes += 1;
                }
                Some(Frame::Op(op, d)) => {
                    assert!(op == 1 || op == 7, "{}: op {op} {d}", self.name);
                    if op == 1 {
                        let beat = json!({"op": 1, "d": self.seq});
                        self.send(beat).await;
                    }
                }
                _ => {}
            }
        }
        resumes
    }

    /// The sequences seen are exactly `first..=last`, each once and in order.
    pub fn assert_contiguous(&self) {
        let seqs: Vec<u64> = self.seen.iter().map(|d| d.s).collect();
        let first = seqs.first().copied().unwrap_or(1);
        for (i, s) in seqs.iter().enumerate() {
            assert_eq!(
                *s,
                first + i as u64,
                "{}: sequence {i} of the session is {s} (a gap or a duplicate): {:?}",
                self.name,
                &seqs[i.saturating_sub(3)..(i + 3).min(seqs.len())]
            );
        }
    }
}
