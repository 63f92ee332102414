//! Throughput of the fake Discord: 16 shard connections (by default) to clients that only read
//! and discard, load mode as fast as they read, compression off.
//!
//! `cargo run --release -p switchyard-sim --example throughput -- [seconds] [shards]`

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use switchyard_sim::{LoadSpec, Sim, SimConfig, WorldConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A masked (all-zero key) client text frame.
fn client_frame(text: &str) -> Vec<u8> {
    let len = text.len();
    let mut f = vec![0x81];
    if len < 126 {
        f.push(0x80 | len as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    }
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(text.as_bytes());
    f
}

/// Connects, identifies as `[shard, shards]`, then reads and discards, counting messages and bytes.
async fn reader(
    addr: std::net::SocketAddr,
    shard: u32,
    shards: u32,
    frames: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET /?v=10&encoding=json HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            buf.copy_within(end + 4..filled, 0);
            filled -= end + 4;
            break;
        }
    }
    let identify = format!(
        r#"{{"op":2,"d":{{"token":"bench-token","intents":{},"shard":[{shard},{shards}],"properties":{{"os":"linux","browser":"bench","device":"bench"}}}}}}"#,
        (1u64 << 17) - 1
    );
    s.write_all(&client_frame(&identify)).await?;
    loop {
        // parse as many whole frames as the buffer holds
        let mut pos = 0;
        while filled - pos >= 2 {
            let b1 = buf[pos + 1] & 0x7f;
            let (len, hdr) = match b1 {
                126 if filled - pos >= 4 => {
                    (u16::from_be_bytes([buf[pos + 2], buf[pos + 3]]) as usize, 4)
                }
                127 if filled - pos >= 10 => {
                    let mut l = [0u8; 8];
                    l.copy_from_slice(&buf[pos + 2..pos + 10]);
                    (u64::from_be_bytes(l) as usize, 10)
                }
                126 | 127 => break,
                n => (n as usize, 2),
            };
            if filled - pos < hdr + len {
                if hdr + len > buf.len() {
                    buf.resize(hdr + len + 1024, 0);
                }
                break;
            }
            if buf[pos] & 0x0f == 0x8 {
                return Ok(()); // close
            }
            frames.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(len as u64, Ordering::Relaxed);
            pos += hdr + len;
        }
        buf.copy_within(pos..filled, 0);
        filled -= pos;
        let n = s.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let shards: u32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(16);
    let mut config = SimConfig {
        max_concurrency: shards,
        shards,
        replay_buffer: 4096,
        world: WorldConfig {
            guilds: 64,
            ..WorldConfig::default()
        },
        ..SimConfig::default()
    };
    config.timings.heartbeat_interval_ms = 600_000;
    config.timings.heartbeat_timeout_ms = 1_200_000;
    let sim = Sim::start(config).await?;
    let frames = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    for shard in 0..shards {
        tokio::spawn(reader(
            sim.addr(),
            shard,
            shards,
            frames.clone(),
            bytes.clone(),
        ));
    }
    while sim.counters().sessions.len() < shards as usize {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let load = sim.start_load(LoadSpec {
        rate: 0,
        mix_size: 1024,
        ..LoadSpec::default()
    });
    let mean = load.mean_frame_size;
    tokio::time::sleep(Duration::from_secs(1)).await; // warm-up
    let (f0, b0, t0) = (
        frames.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        Instant::now(),
    );
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let (f1, b1, dt) = (
        frames.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
        t0.elapsed().as_secs_f64(),
    );
    let produced = load.stop().await;
    let rate = (f1 - f0) as f64 / dt;
    println!("shards: {shards}, seconds: {seconds}, compression: off");
    println!("mix: {:?}", switchyard_sim::MIX_WEIGHTS);
    println!(
        "mean frame size of the mix: {mean:.0} bytes; measured mean on the wire: {:.0} bytes",
        (b1 - b0) as f64 / (f1 - f0).max(1) as f64
    );
    println!("events produced: {produced}");
    println!(
        "dispatches delivered: {:.0}/s ({:.1} MB/s)",
        rate,
        (b1 - b0) as f64 / dt / 1e6
    );
    sim.shutdown().await;
    Ok(())
}
