//! `switchyard bench --face`: the Discord-compatible face in front of a gateway on the
//! embedded broker, its clients reading the fake's realistic event mix.
//!
//! The fake runs on its own runtime (threads `bench-sim`), the gateway on the process's main
//! runtime, the face on a runtime of its own (threads `bench-face`, as many workers as
//! CPUs), and the clients ([`super::face_clients`]) on a fourth (`bench-consumer`), so that
//! per-thread CPU time separates the face from the gateway and from its clients.
//!
//! First the memory figures ([`super::face_memory`]); then, for each client count of
//! `--face-clients` (on virtual shards `[i, n]`, or all on `[0, 1]` with `--face-fanout`):
//! - fixed rate: `--events` events at `--rate` a second, each MESSAGE_CREATE stamped with
//!   its send time; the latency is from the fake's send to a client's receipt;
//! - full speed: `--events` events as fast as the face delivers them, the fake keeping at
//!   most [`WINDOW`] deliveries in flight (so that no client counts as too slow and no
//!   buffer drops): events/s, and the face's CPU per event and per delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchyard_broker::Pattern;
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use switchyard_face::{FaceDeps, FaceOptions, FaceTokens, RunningFace, SourceError, StateSource};
use switchyard_gateway::{FileSessionStore, GatewayDeps, RunningGateway};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Sim, SimHandle};
use tokio::runtime::Runtime;
use tokio::sync::watch;

use super::face_clients::{self, Tally};
use super::load::{MIX_SIZE, Pace, SUBSCRIBER_BUFFER};
use super::measure::{CONSUMER_THREADS, CpuSnapshot, FACE_THREADS, SIM_THREADS, Stampable, now_ns};
use crate::cli::BenchArgs;
use crate::face_source::LocalSource;

/// Deliveries in flight at full speed: below the face's default client queue (4096), so that
/// no client is closed as too slow even when every client holds every guild.
pub const WINDOW: u64 = 3072;
/// How long reception may stall, after the fake has sent everything, before a phase ends.
const STALL: Duration = Duration::from_secs(3);

/// The running fake, gateway and face.
pub struct Bench {
    sim_rt: Rt,
    face_rt: Rt,
    pub clients_rt: Rt,
    sim: Arc<SimHandle>,
    gateway: RunningGateway,
    face: Option<RunningFace>,
    pub face_addr: std::net::SocketAddr,
    pub token: Arc<str>,
    /// The intents clients identify with (every intent the bot has upstream).
    pub intents: u64,
    items: Arc<Vec<Stampable>>,
    guilds_of_items: Vec<u64>,
    pub guilds: usize,
    pub tally: Arc<Tally>,
}

/// What one driven run sent.
#[derive(Debug, Clone, Copy)]
pub struct Driven {
    /// Events the fake got out to the gateway's shard.
    pub accepted: u64,
    /// Deliveries those events make to the clients of the layout.
    pub expected: u64,
}

/// A runtime of its own, shut down in the background when dropped (a runtime dropped the
/// ordinary way inside another one panics).
pub struct Rt(Option<Runtime>);

impl std::ops::Deref for Rt {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        self.0.as_ref().expect("a runtime until dropped")
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

fn runtime(name: &str, workers: usize) -> anyhow::Result<Rt> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name(name)
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .with_context(|| format!("cannot start the {name} runtime"))?;
    Ok(Rt(Some(rt)))
}

impl Bench {
    /// Starts the fake, the gateway (every intent, the cache on without messages) and the
    /// face, and waits until the face can serve the bot's every guild.
    pub async fn start(shards: u32, dir: &std::path::Path) -> anyhow::Result<Self> {
        let cpus = std::thread::available_parallelism().map_or(2, usize::from);
        let sim_rt = runtime(SIM_THREADS, 1)?;
        let face_rt = runtime(FACE_THREADS, cpus)?;
        let clients_rt = runtime(CONSUMER_THREADS, 1)?;
        let sim_config = super::fake::sim_config(shards, 4096);
        let guilds = sim_config.world.guilds;
        let sim = sim_rt
            .spawn(Sim::start(sim_config))
            .await
            .context("the fake Discord's runtime failed")?
            .context("cannot start the fake Discord")?;
        let sim = Arc::new(sim);
        let broker = EmbeddedBroker::new(EmbeddedConfig {
            subscriber_buffer: SUBSCRIBER_BUFFER,
            ..EmbeddedConfig::default()
        });
        let rest = RestClient::new(RestConfig {
            upstream: sim.http_url().to_owned(),
            ..RestConfig::default()
        })
        .await
        .context("REST client")?;
        let mut gw = super::gateway_config(shards);
        gw.cache = switchyard_gateway::CacheConfig {
            messages: 0,
            ..switchyard_gateway::CacheConfig::all()
        };
        let deps = GatewayDeps {
            broker: Arc::new(broker.clone()),
            rest,
            sessions: Arc::new(FileSessionStore::new(dir.join("face")).context("sessions")?),
            shared: None,
        };
        let gateway = switchyard_gateway::start(gw.clone(), deps)
            .await
            .context("cannot start the gateway")?;
        if !gateway.wait_ready(Duration::from_secs(60)).await {
            anyhow::bail!("the gateway's shards did not become ready");
        }
        let source: Arc<dyn StateSource> = Arc::new(LocalSource::new(gateway.cache_view()));
        let identity = loop_until(Duration::from_secs(30), || {
            let source = source.clone();
            async move {
                let identity = source.identity().await?;
                let known = source.guilds().await?;
                match known.iter().filter(|g| !g.unavailable).count() >= guilds {
                    true => Ok(Some(identity)),
                    false => Ok(None),
                }
            }
        })
        .await
        .context("the cache did not hold the bot and its guilds")?;
        let token: Arc<str> = FaceTokens::mint(identity.user_id, "switchyard-bench-face").into();
        let mut options = FaceOptions::new(FaceTokens::new([token.to_string()])?, "");
        // clients of a bench run do not heartbeat: nothing in it lasts an interval
        options.heartbeat_interval = Duration::from_secs(3600);
        let deps = FaceDeps {
            bot: gw.bot.clone(),
            broker: Arc::new(broker),
            source,
            rest: None,
            inbound: Pattern::new("inbound.discord.>").context("pattern")?,
            reply_prefix: "inbound.rest".to_owned(),
        };
        let face = face_rt
            .spawn(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                anyhow::Ok(switchyard_face::serve(listener, options, deps).await?)
            })
            .await
            .context("the face's runtime failed")??;
        let mix = switchyard_sim::build_mix(sim.world(), sim.config().world.seed, MIX_SIZE);
        let guilds_of_items = mix.iter().map(|m| m.guild_id).collect();
        let items = Arc::new(mix.into_iter().map(Stampable::new).collect::<Vec<_>>());
        anyhow::ensure!(!items.is_empty(), "the fake's mix is empty");
        Ok(Bench {
            sim_rt,
            face_rt,
            clients_rt,
            sim,
            gateway,
            face_addr: face.local_addr(),
            face: Some(face),
            token,
            intents: identity.intents,
            items,
            guilds_of_items,
            guilds,
            tally: Arc::new(Tally::default()),
        })
    }

    /// For each item of the mix, how many clients on `layout` get it.
    pub fn mix(&self, layout: &[[u32; 2]]) -> Vec<u64> {
        self.guilds_of_items
            .iter()
            .map(|g| {
                let on = |s: &[u32; 2]| (g >> 22) % u64::from(s[1].max(1)) == u64::from(s[0]);
                layout.iter().filter(|s| on(s)).count() as u64
            })
            .collect()
    }

    /// Sends `count` events of the mix, at `rate` a second or (`None`) as fast as the
    /// clients' deliveries keep up within [`WINDOW`]; returns when the fake has sent them.
    pub async fn drive(
        &self,
        holders: Vec<u64>,
        count: u64,
        rate: Option<u64>,
    ) -> anyhow::Result<Driven> {
        let progress = Arc::new(Progress::default());
        self.start_drive(holders, count, rate, progress.clone())
            .await
            .context("the fake's driver failed")
    }

    fn start_drive(
        &self,
        holders: Vec<u64>,
        count: u64,
        rate: Option<u64>,
        progress: Arc<Progress>,
    ) -> tokio::task::JoinHandle<Driven> {
        let (sim, items, tally) = (self.sim.clone(), self.items.clone(), self.tally.clone());
        self.sim_rt.spawn(async move {
            let base = tally.deliveries.load(Ordering::Relaxed);
            let mut pace = rate.map(|r| Pace::new(count, r));
            let (mut sent, mut out) = (
                0u64,
                Driven {
                    accepted: 0,
                    expected: 0,
                },
            );
            while sent < count {
                let due = match &mut pace {
                    Some(p) => p.due().await,
                    None => {
                        let done = tally.deliveries.load(Ordering::Relaxed) - base;
                        if out.expected.saturating_sub(done) > WINDOW {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        sent + 1
                    }
                };
                while sent < due {
                    let i = sent as usize % items.len();
                    if sim.dispatch_prerendered(&items[i].stamped(now_ns())) > 0 {
                        out.accepted += 1;
                        out.expected += holders[i];
                        progress.expected.store(out.expected, Ordering::Relaxed);
                    }
                    sent += 1;
                    tokio::task::yield_now().await;
                }
            }
            progress.done.store(true, Ordering::Release);
            out
        })
    }

    /// One measured phase on the clients of `layout`.
    pub async fn phase(
        &self,
        layout: &[[u32; 2]],
        count: u64,
        rate: Option<u64>,
    ) -> anyhow::Result<Phase> {
        let tally = &self.tally;
        tally.clear_samples();
        let before = tally.deliveries.load(Ordering::Relaxed);
        let progress = Arc::new(Progress::default());
        let cpu = CpuSnapshot::take().context("cannot read thread CPU times")?;
        let start_ns = now_ns();
        let driver = self.start_drive(self.mix(layout), count, rate, progress.clone());
        let mut last = (before, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let n = tally.deliveries.load(Ordering::Relaxed);
            let done = progress.done.load(Ordering::Acquire);
            if done && n - before >= progress.expected.load(Ordering::Relaxed) {
                break;
            }
            if n != last.0 {
                last = (n, Instant::now());
            } else if done && last.1.elapsed() > STALL {
                break;
            } else if last.1.elapsed() > STALL * 10 {
                anyhow::bail!("no event reached a client for {:?}", STALL * 10);
            }
        }
        let end = CpuSnapshot::take().context("cannot read thread CPU times")?;
        let driven = driver.await.context("the fake's driver failed")?;
        let received = tally.deliveries.load(Ordering::Relaxed) - before;
        let last_ns = tally.last_ns.load(Ordering::Relaxed);
        let face_ns = end.ns_since(&cpu, FACE_THREADS);
        Ok(Phase {
            events: driven.accepted,
            expected: driven.expected,
            received,
            secs: last_ns.saturating_sub(start_ns) as f64 / 1e9,
            face_ns,
            gateway_ns: end.gateway_ns_since(&cpu),
            clients_ns: end.ns_since(&cpu, CONSUMER_THREADS),
            latencies: tally.take_samples(),
        })
    }

    /// Connects clients on `layout` and waits until each has READY and its guilds.
    pub async fn connect(&self, layout: &[[u32; 2]]) -> anyhow::Result<Connected> {
        let (stop, rx) = watch::channel(false);
        let url = face_clients::ws_url(self.face_addr);
        let ready_before = self.tally.ready.load(Ordering::Relaxed);
        let tasks = layout
            .iter()
            .map(|shard| {
                self.clients_rt.spawn(face_clients::client(
                    url.clone(),
                    self.token.clone(),
                    self.intents,
                    *shard,
                    self.tally.clone(),
                    rx.clone(),
                ))
            })
            .collect();
        face_clients::wait_ready(
            &self.tally,
            ready_before + layout.len(),
            Duration::from_secs(120),
        )
        .await?;
        Ok(Connected { stop, tasks })
    }

    /// Waits until the face holds no session (closed ones are swept every 5 s).
    pub async fn wait_sessions_gone(&self, timeout: Duration) {
        let until = Instant::now() + timeout;
        while self.face.as_ref().is_some_and(|f| f.sessions() > 0) && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn shutdown(mut self) {
        if let Some(face) = self.face.take() {
            let _ = self.face_rt.spawn(face.shutdown()).await;
        }
        self.gateway.shutdown().await;
        if let Ok(sim) = Arc::try_unwrap(self.sim) {
            let _ = self.sim_rt.spawn(sim.shutdown()).await;
        }
    }
}

#[derive(Debug, Default)]
struct Progress {
    expected: AtomicU64,
    done: AtomicBool,
}

/// Clients connected by [`Bench::connect`].
pub struct Connected {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Connected {
    /// Closes every client (code 1000, which ends its session).
    pub async fn close(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    /// Events the fake sent (and the gateway's shard received).
    pub events: u64,
    /// Deliveries due to the clients, and those that arrived.
    pub expected: u64,
    pub received: u64,
    /// From the first send to the last receipt.
    pub secs: f64,
    /// CPU nanoseconds of the face's threads, the gateway's (every other thread but the
    /// fake's and the clients') and the clients'.
    pub face_ns: u64,
    pub gateway_ns: u64,
    pub clients_ns: u64,
    /// Sorted send-to-receipt latencies in nanoseconds.
    pub latencies: Vec<u64>,
}

impl Phase {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }

    /// CPU microseconds per event of `ns`.
    pub fn per_event(&self, ns: u64) -> f64 {
        ns as f64 / 1e3 / self.events.max(1) as f64
    }

    /// The face's CPU microseconds per delivery (an event to one client).
    pub fn face_per_delivery(&self) -> f64 {
        self.face_ns as f64 / 1e3 / self.received.max(1) as f64
    }
}

async fn loop_until<T, F, Fut>(timeout: Duration, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, SourceError>>,
{
    let until = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(Some(t)) => return Ok(t),
            Ok(None) | Err(SourceError::NotReady) if Instant::now() < until => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(None) => anyhow::bail!("not within {timeout:?}"),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The virtual shards of `clients` clients: `[i, n]`, or all `[0, 1]` with `fanout`.
pub fn layout(clients: usize, fanout: bool) -> Vec<[u32; 2]> {
    match fanout {
        true => vec![[0, 1]; clients],
        false => (0..clients as u32).map(|i| [i, clients as u32]).collect(),
    }
}

/// Runs the memory steps and the phases, printing each figure; `Ok(false)` when a target
/// was missed.
pub async fn run(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<bool> {
    let bench = Bench::start(args.shards, dir).await?;
    let result = super::face_report::run_all(&bench, args).await;
    bench.shutdown().await;
    result
}
