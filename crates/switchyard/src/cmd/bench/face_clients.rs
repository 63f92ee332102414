//! The clients of `switchyard bench --face`: Discord clients written with tokio-tungstenite
//! that IDENTIFY on the face and then read as little as they can, so that what is measured
//! is the face, not them. A frame is looked at by its first bytes only (the face writes
//! `{"t":"NAME",…` first); READY is parsed for its guild count, and a MESSAGE_CREATE's send
//! stamp is found by a substring search.
//!
//! [`child`] runs clients in a child process (`switchyard bench --face-child URL`), for the
//! memory measurements, so that their buffers are not in the measured process.

use std::io::BufRead as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::measure::{self, now_ns};

/// The environment variable that hands the client token to a child.
pub const TOKEN_ENV: &str = "SWITCHYARD_BENCH_FACE_TOKEN";
/// The environment variable that hands the intents to identify with to a child.
pub const INTENTS_ENV: &str = "SWITCHYARD_BENCH_FACE_INTENTS";
/// The environment variable that tells a child to spread its clients over `[i, n]` (`1`)
/// rather than put them all on `[0, 1]`.
pub const SPREAD_ENV: &str = "SWITCHYARD_BENCH_FACE_SPREAD";

/// What the clients counted together.
#[derive(Debug, Default)]
pub struct Tally {
    /// Dispatches other than READY and GUILD_CREATE.
    pub deliveries: AtomicU64,
    /// When the last of them arrived ([`now_ns`]).
    pub last_ns: AtomicU64,
    /// Clients that got READY and every GUILD_CREATE it announced.
    pub ready: AtomicUsize,
    /// Clients that ended with an error.
    pub failed: AtomicUsize,
    /// Bytes of READY and GUILD_CREATE frames received.
    pub state_bytes: AtomicU64,
    /// GUILD_CREATEs received.
    pub guild_creates: AtomicU64,
    samples: Mutex<Vec<u64>>,
}

impl Tally {
    /// Takes the latency samples gathered so far, sorted.
    pub fn take_samples(&self) -> Vec<u64> {
        let mut v = std::mem::take(&mut *self.samples.lock().unwrap_or_else(|e| e.into_inner()));
        v.sort_unstable();
        v
    }

    pub fn clear_samples(&self) {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn text(&self, text: &str, pending: &mut Option<usize>) {
        let Some(rest) = text.strip_prefix(r#"{"t":""#) else {
            return; // HELLO, heartbeat ACKs and other ops
        };
        if rest.starts_with(r#"READY""#) {
            self.state_bytes
                .fetch_add(text.len() as u64, Ordering::Relaxed);
            let guilds = serde_json::from_str::<serde_json::Value>(text)
                .ok()
                .and_then(|v| v["d"]["guilds"].as_array().map(Vec::len))
                .unwrap_or(0);
            *pending = Some(guilds);
            if guilds == 0 {
                self.ready.fetch_add(1, Ordering::Relaxed);
            }
        } else if rest.starts_with(r#"GUILD_CREATE""#) && pending.is_some_and(|p| p > 0) {
            self.state_bytes
                .fetch_add(text.len() as u64, Ordering::Relaxed);
            self.guild_creates.fetch_add(1, Ordering::Relaxed);
            let left = pending.map_or(0, |p| p - 1);
            *pending = Some(left);
            if left == 0 {
                self.ready.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            let now = now_ns();
            if let Some(stamp) = measure::stamp_of(text.as_bytes()) {
                self.samples
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(now.saturating_sub(stamp));
            }
            self.last_ns.store(now, Ordering::Relaxed);
            self.deliveries.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The face's WebSocket URL at `addr`, as a client library builds it (JSON, no compression).
pub fn ws_url(addr: std::net::SocketAddr) -> String {
    format!("ws://{addr}/?v=10&encoding=json")
}

/// One client: connects, identifies on virtual shard `shard`, reads until `stop`, then
/// closes with 1000 (which ends its session on the face).
pub async fn client(
    url: String,
    token: Arc<str>,
    intents: u64,
    shard: [u32; 2],
    tally: Arc<Tally>,
    stop: watch::Receiver<bool>,
) {
    if let Err(error) = read(&url, &token, intents, shard, &tally, stop).await {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(?shard, "face bench client: {error:#}");
    }
}

async fn read(
    url: &str,
    token: &str,
    intents: u64,
    shard: [u32; 2],
    tally: &Tally,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("cannot connect to the face")?;
    let identify = serde_json::json!({"op": 2, "d": {
        "token": token,
        "intents": intents,
        "shard": shard,
        "large_threshold": 250,
        "properties": {"os": "linux", "browser": "switchyard-bench", "device": "switchyard-bench"},
    }});
    ws.send(Message::Text(identify.to_string().into()))
        .await
        .context("IDENTIFY")?;
    let mut pending = None;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = stop.changed() => {
                let close = CloseFrame { code: CloseCode::Normal, reason: "".into() };
                let _ = ws.close(Some(close)).await;
                // read until the face answers the close
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while let Some(Ok(_)) = ws.next().await {}
                })
                .await;
                return Ok(());
            }
        };
        match msg.context("the face closed the connection")? {
            Ok(Message::Text(text)) => tally.text(text.as_str(), &mut pending),
            Ok(Message::Close(frame)) => anyhow::bail!("the face closed: {frame:?}"),
            Ok(_) => {}
            Err(e) => return Err(e).context("reading"),
        }
    }
}

/// Waits until `n` clients of `tally` are ready; fails if one failed or after `timeout`.
pub async fn wait_ready(tally: &Tally, n: usize, timeout: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + timeout;
    loop {
        let ready = tally.ready.load(Ordering::Relaxed);
        if ready >= n {
            return Ok(());
        }
        let failed = tally.failed.load(Ordering::Relaxed);
        anyhow::ensure!(failed == 0, "{failed} of {n} clients failed");
        anyhow::ensure!(
            Instant::now() < until,
            "{ready} of {n} clients got READY and their guilds within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `switchyard bench --face-child URL --face-child-clients N`: N clients on `[0, 1]` (or on
/// `[i, N]` with [`SPREAD_ENV`]); prints `ready N BYTES GUILD_CREATES` once all got READY
/// and their guilds, then reads until its stdin closes and closes them.
pub async fn child(url: String, clients: usize) -> anyhow::Result<()> {
    let token: Arc<str> = std::env::var(TOKEN_ENV)
        .with_context(|| format!("{TOKEN_ENV} is not set"))?
        .into();
    let intents: u64 = std::env::var(INTENTS_ENV)
        .ok()
        .and_then(|i| i.parse().ok())
        .with_context(|| format!("{INTENTS_ENV} is not set"))?;
    let spread = std::env::var(SPREAD_ENV).is_ok_and(|v| v == "1");
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = watch::channel(false);
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients as u32 {
        let shard = if spread { [i, clients as u32] } else { [0, 1] };
        tasks.push(tokio::spawn(client(
            url.clone(),
            token.clone(),
            intents,
            shard,
            tally.clone(),
            stop.clone(),
        )));
        // as a fleet of bots would, not all in the same millisecond
        tokio::task::yield_now().await;
    }
    wait_ready(&tally, clients, Duration::from_secs(120)).await?;
    println!(
        "ready {clients} {} {}",
        tally.state_bytes.load(Ordering::Relaxed),
        tally.guild_creates.load(Ordering::Relaxed)
    );
    tokio::task::spawn_blocking(|| {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
    })
    .await
    .context("stdin")?;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    Ok(())
}
