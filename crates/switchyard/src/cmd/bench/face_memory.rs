//! The memory figures of `switchyard bench --face`: resident-set deltas of this process (the
//! fake, the gateway and the face) while clients in a child process connect to the face.
//!
//! In order, each measured on top of the one before, so that memory the allocator freed in
//! one step cannot hide what the next one takes:
//! 1. after a warm-up of `K` events with no client (the face decodes and drops them): base;
//! 2. `M` clients connect on `[0, 1]` and get READY and every guild;
//! 3. `K` more events: every client's replay buffer holds them (each event once, shared, and
//!    one small entry per session): the delta per event;
//! 4. `N` idle clients more, on virtual shards `[i, N]` (so that each holds a few guilds at
//!    most): the delta per client (its session, its READY and GUILD_CREATEs kept for a
//!    RESUME, its connection's buffers and task). What a GUILD_CREATE weighs is printed
//!    beside it: a session keeps its own for the replay window.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use super::face::{Bench, Driven};
use super::face_clients::{INTENTS_ENV, SPREAD_ENV, TOKEN_ENV};
use super::measure;

/// Clients that hold the replay buffers measured in step 3.
pub const REPLAY_CLIENTS: usize = 10;

/// What the memory steps measured.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub base: u64,
    /// Bytes per event kept, with [`REPLAY_CLIENTS`] sessions holding it.
    pub per_event: f64,
    pub events: u64,
    pub idle: usize,
    /// Bytes per idle client.
    pub per_client: f64,
    /// READY and GUILD_CREATE bytes each idle client received (which its session keeps for
    /// the replay window).
    pub state_per_client: f64,
    /// GUILD_CREATEs the idle clients received; the mean size of one (READY's share
    /// included), from the replay clients, which got every guild.
    pub guild_creates: u64,
    pub guild_create_bytes: f64,
}

/// Clients in a child process, closed (code 1000) when dropped.
struct Clients {
    child: Child,
}

impl Clients {
    /// Starts `n` clients (on `[i, n]` if `spread`, else all on `[0, 1]`) and waits until
    /// all have READY and their guilds; returns the bytes of READY and GUILD_CREATE they got
    /// and how many GUILD_CREATEs.
    fn start(b: &Bench, n: usize, spread: bool) -> anyhow::Result<(Self, u64, u64)> {
        let exe = std::env::current_exe().context("cannot find this executable")?;
        let mut child = Command::new(exe)
            .args(["--log", "warn", "bench", "--face-child"])
            .arg(super::face_clients::ws_url(b.face_addr))
            .args(["--face-child-clients", &n.to_string()])
            .env(TOKEN_ENV, &*b.token)
            .env(INTENTS_ENV, b.intents.to_string())
            .env(SPREAD_ENV, if spread { "1" } else { "0" })
            .env_remove("SWITCHYARD_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start the clients' process")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut clients = Clients { child };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("the clients' process")?;
        let numbers: Vec<u64> = line
            .strip_prefix("ready ")
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        match numbers.as_slice() {
            &[_, bytes, creates] => Ok((clients, bytes, creates)),
            _ => {
                let status = clients.child.try_wait().ok().flatten();
                anyhow::bail!(
                    "the clients' process did not get ready ({:?}, exit {status:?})",
                    line.trim()
                )
            }
        }
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        drop(self.child.stdin.take()); // the child closes its clients and exits
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn settled_rss() -> anyhow::Result<u64> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    measure::rss_bytes().context("cannot read /proc/self/status")
}

/// Runs the four steps; the clients are gone (and their sessions swept) when it returns.
pub async fn measure(b: &Bench, events: u64, idle: usize, rate: u64) -> anyhow::Result<Memory> {
    let none = b.mix(&[]);
    let warm: Driven = b.drive(none, events, Some(rate)).await?;
    anyhow::ensure!(warm.accepted > 0, "the fake sent none of the warm-up");
    let base = settled_rss().await?;

    let (replay_clients, all_state, all_creates) =
        tokio::task::block_in_place(|| Clients::start(b, REPLAY_CLIENTS, false))?;
    let with_clients = settled_rss().await?;
    let all = b.mix(&[[0, 1]; REPLAY_CLIENTS]);
    let kept = b.drive(all, events, Some(rate)).await?;
    let with_events = settled_rss().await?;
    let per_event = with_events.saturating_sub(with_clients) as f64 / kept.accepted.max(1) as f64;

    let (idle_clients, state, creates) =
        tokio::task::block_in_place(|| Clients::start(b, idle, true))?;
    let with_idle = settled_rss().await?;
    let per_client = with_idle.saturating_sub(with_events) as f64 / idle.max(1) as f64;

    tokio::task::block_in_place(|| {
        drop(idle_clients);
        drop(replay_clients);
    });
    b.wait_sessions_gone(Duration::from_secs(30)).await;
    Ok(Memory {
        base,
        per_event,
        events: kept.accepted,
        idle,
        per_client,
        state_per_client: state as f64 / idle.max(1) as f64,
        guild_creates: creates,
        guild_create_bytes: all_state as f64 / all_creates.max(1) as f64,
    })
}
