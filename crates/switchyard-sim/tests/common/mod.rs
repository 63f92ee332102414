//! Helpers shared by the integration tests: a started sim and a raw gateway client.
#![allow(dead_code, missing_docs)]

use std::io::Read;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchyard_sim::{Sim, SimConfig, SimHandle};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const TOKEN: &str = "test-token-1";
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn sim(config: SimConfig) -> SimHandle {
    Sim::start(config).await.expect("sim starts")
}

pub async fn fast_sim() -> SimHandle {
    sim(SimConfig::fast()).await
}

pub enum Inflate {
    None,
    Zlib(flate2::Decompress),
    Zstd(zstd::stream::raw::Decoder<'static>),
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub inflate: Inflate,
    pub last_seq: Option<u64>,
    pub binary_frames: usize,
}

/// Something the server sent.
#[derive(Debug)]
pub enum Got {
    Payload(Value),
    Closed(u16),
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        let inflate = if url.contains("compress=zlib-stream") {
            Inflate::Zlib(flate2::Decompress::new(true))
        } else if url.contains("compress=zstd-stream") {
            Inflate::Zstd(zstd::stream::raw::Decoder::new().expect("zstd decoder"))
        } else {
            Inflate::None
        };
        Self {
            ws,
            inflate,
            last_seq: None,
            binary_frames: 0,
        }
    }

    pub async fn gateway(sim: &SimHandle, query: &str) -> Self {
        Self::connect(&format!("{}/?{query}", sim.gateway_url())).await
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::text(v.to_string()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        let _ = self.ws.send(m).await;
    }

    fn decode_binary(&mut self, data: &[u8]) -> Value {
        self.binary_frames += 1;
        let text = match &mut self.inflate {
            Inflate::Zlib(d) => {
                assert!(
                    data.ends_with(&[0, 0, 0xff, 0xff]),
                    "zlib-stream frame without sync-flush suffix"
                );
                let start = d.total_in();
                let mut out = Vec::with_capacity(64 * 1024);
                loop {
                    let consumed = (d.total_in() - start) as usize;
                    if out.len() == out.capacity() {
                        out.reserve(64 * 1024);
                    }
                    d.decompress_vec(&data[consumed..], &mut out, flate2::FlushDecompress::Sync)
                        .expect("inflate");
                    if (d.total_in() - start) as usize == data.len() && out.len() < out.capacity() {
                        break;
                    }
                }
                out
            }
            Inflate::Zstd(dec) => {
                use zstd::stream::raw::Operation;
                let mut out = Vec::new();
                let mut input = data;
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let status = dec.run_on_buffers(input, &mut buf).expect("zstd");
                    out.extend_from_slice(&buf[..status.bytes_written]);
                    input = &input[status.bytes_read..];
                    if input.is_empty() && status.bytes_written < buf.len() {
                        break;
                    }
                }
                out
            }
            Inflate::None => {
                // payload compression: a complete zlib message
                let mut out = Vec::new();
                flate2::read::ZlibDecoder::new(data)
                    .read_to_end(&mut out)
                    .expect("zlib message");
                out
            }
        };
        serde_json::from_slice(&text).expect("json")
    }

    /// Next payload or close, failing the test after `WAIT`.
    pub async fn next(&mut self) -> Got {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server sent nothing in time");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("json text frame");
                    if let Some(s) = v["s"].as_u64() {
                        self.last_seq = Some(s);
                    }
                    return Got::Payload(v);
                }
                Some(Ok(Message::Binary(b))) => {
                    let v = self.decode_binary(&b);
                    if let Some(s) = v["s"].as_u64() {
                        self.last_seq = Some(s);
                    }
                    return Got::Payload(v);
                }
                Some(Ok(Message::Close(f))) => {
                    return Got::Closed(f.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Got::Closed(1006),
            }
        }
    }

    pub async fn payload(&mut self) -> Value {
        match self.next().await {
            Got::Payload(v) => v,
            Got::Closed(c) => panic!("expected a payload, got close {c}"),
        }
    }

    /// Waits for a dispatch of the given name, skipping others.
    pub async fn dispatch(&mut self, name: &str) -> Value {
        loop {
            let p = self.payload().await;
            if p["op"] == 0 && p["t"] == name {
                return p;
            }
        }
    }

    pub async fn close_code(&mut self) -> u16 {
        loop {
            if let Got::Closed(c) = self.next().await {
                return c;
            }
        }
    }

    pub async fn hello(&mut self) -> u64 {
        let h = self.payload().await;
        assert_eq!(h["op"], 10, "first payload is HELLO: {h}");
        h["d"]["heartbeat_interval"].as_u64().expect("interval")
    }

    pub async fn identify(&mut self, token: &str, intents: u64, shard: Option<[u64; 2]>) {
        let mut d = json!({"token": token, "intents": intents, "properties": {"os": "linux", "browser": "test", "device": "test"}});
        if let Some(s) = shard {
            d["shard"] = json!(s);
        }
        self.send(json!({"op": 2, "d": d})).await;
    }

    /// HELLO + IDENTIFY + READY; returns READY's d.
    pub async fn ready(
        sim: &SimHandle,
        token: &str,
        intents: u64,
        shard: Option<[u64; 2]>,
    ) -> (Self, Value) {
        let mut c = Self::gateway(sim, "v=10&encoding=json").await;
        c.hello().await;
        c.identify(token, intents, shard).await;
        let ready = c.dispatch("READY").await;
        (c, ready["d"].clone())
    }
}

pub fn first_text_channel(sim: &SimHandle, guild: usize) -> u64 {
    sim.world().guilds[guild]
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("text channel")
        .id
}

/// A small REST client with the bot token.
pub struct Rest {
    pub http: reqwest::Client,
    pub base: String,
    pub auth: String,
}

impl Rest {
    pub fn new(sim: &switchyard_sim::SimHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sim.api_url(),
            auth: format!("Bot {TOKEN}"),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, reqwest::header::HeaderMap, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.base))
            .header("Authorization", &self.auth);
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("json body")
        };
        (status, headers, v)
    }
}
