//! One backend's load runs: the fake Discord on its own runtime (threads `bench-sim`), the
//! gateway on the process's main runtime, a consumer subscribed to `inbound.discord.>` on a
//! third runtime (threads `bench-consumer`), so that per-thread CPU time separates the three.
//!
//! Three phases follow a warm-up:
//! - fixed rate: events of the fake's payload mix injected at `rate` events/s; every
//!   MESSAGE_CREATE carries its send time (nanoseconds on a clock shared in the process) in
//!   its `nonce`, which the consumer compares with its clock on receipt;
//! - full speed: the fake's load mode at rate 0 (as fast as the gateway reads);
//! - the broker alone at the fixed rate, the gateway stopped ([`super::alone`]): the
//!   reference the fixed-rate latency is read against.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchyard_broker::embedded::resp::{RespConfig, RespServer};
use switchyard_broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use switchyard_broker::{Broker, BrokerOptions, Pattern};
use switchyard_gateway::{FileSessionStore, GatewayDeps, KvSessionStore, SessionStore};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{LoadSpec, Sim, SimHandle};
use tokio::runtime::Runtime;

use super::measure::{self, CONSUMER_THREADS, CpuSnapshot, SIM_THREADS, Stampable, now_ns};
use crate::cli::BenchBackend;

/// Messages buffered per subscription (the consumer's side of every backend).
pub const SUBSCRIBER_BUFFER: usize = 65_536;
/// Pre-rendered payloads in the mix.
pub const MIX_SIZE: usize = 1024;
/// How long reception may stall, after the fake has sent everything, before a phase ends.
const STALL: Duration = Duration::from_secs(3);

/// The fake's and the consumer's runtimes.
pub struct Runtimes {
    pub sim: Runtime,
    pub consumer: Runtime,
}

impl Runtimes {
    pub fn new() -> anyhow::Result<Self> {
        let build = |name: &str| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name(name)
                .thread_keep_alive(Duration::from_secs(3600))
                .enable_all()
                .build()
                .with_context(|| format!("cannot start the {name} runtime"))
        };
        Ok(Runtimes {
            sim: build(SIM_THREADS)?,
            consumer: build(CONSUMER_THREADS)?,
        })
    }

    pub fn shutdown(self) {
        self.sim.shutdown_background();
        self.consumer.shutdown_background();
    }
}

/// What one phase measured.
#[derive(Debug, Clone, Default)]
pub struct Phase {
    pub sent: u64,
    pub received: u64,
    /// RESUMED dispatches the gateway published besides the load (one per resumable close,
    /// for example when the publish queue stayed full).
    pub resumed: u64,
    /// From the first send to the last receipt.
    pub secs: f64,
    /// CPU nanoseconds of the gateway's threads, the fake's and the consumer's.
    pub gateway_ns: u64,
    pub sim_ns: u64,
    pub consumer_ns: u64,
    /// Sorted send-to-receipt latencies in nanoseconds.
    pub latencies: Vec<u64>,
}

impl Phase {
    pub fn rate(&self) -> f64 {
        self.received as f64 / self.secs.max(1e-9)
    }

    /// Gateway CPU microseconds per received event.
    pub fn gateway_us(&self) -> f64 {
        self.gateway_ns as f64 / 1e3 / self.received.max(1) as f64
    }

    pub fn per_event_us(&self, ns: u64) -> f64 {
        ns as f64 / 1e3 / self.received.max(1) as f64
    }
}

/// The phases of one backend.
#[derive(Debug, Clone)]
pub struct BackendRun {
    pub fixed: Phase,
    pub full: Phase,
    /// The broker alone at the fixed rate (no fake, no gateway).
    pub alone: Phase,
}

/// The parameters of the load runs.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    pub shards: u32,
    pub events: u64,
    pub rate: u64,
    pub session_save: Duration,
    /// Whether the gateway keeps its shards' caches.
    pub cache: bool,
}

/// What the consumer counted: events, the time of the last, latency samples.
#[derive(Debug, Default)]
pub struct Received {
    count: AtomicU64,
    /// RESUMED dispatches (after a resumable close), not counted in `count`.
    resumed: AtomicU64,
    last_ns: AtomicU64,
    samples: std::sync::Mutex<Vec<u64>>,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the phases against `backend`; `url` is the Redis or NATS server for those backends.
pub async fn run_backend(
    rts: &Runtimes,
    backend: BenchBackend,
    url: Option<&str>,
    params: Params,
    dir: &std::path::Path,
) -> anyhow::Result<BackendRun> {
    let options = BrokerOptions {
        subscriber_buffer: SUBSCRIBER_BUFFER,
        ..BrokerOptions::default()
    };
    let embedded = EmbeddedBroker::new(EmbeddedConfig {
        subscriber_buffer: SUBSCRIBER_BUFFER,
        ..EmbeddedConfig::default()
    });
    let mut resp = None;
    let (broker, consumer_url): (Arc<dyn Broker>, Option<String>) = match backend {
        BenchBackend::Embedded => (Arc::new(embedded.clone()), None),
        BenchBackend::Resp => {
            let server = RespServer::bind(&embedded, RespConfig::on_port(0))
                .await
                .context("cannot start the RESP listener")?
                .spawn();
            let url = format!("redis://{}", server.local_addr());
            resp = Some(server);
            (Arc::new(embedded.clone()), Some(url))
        }
        BenchBackend::Redis | BenchBackend::Nats => {
            let url = url.context("no server URL")?;
            let broker = switchyard_broker::connect(url, &options)
                .await
                .with_context(|| {
                    format!("cannot connect to {}", switchyard_broker::redact_url(url))
                })?;
            (broker, Some(url.to_owned()))
        }
    };

    let sim_config = super::fake::sim_config(params.shards, 4096);
    let sim = rts
        .sim
        .spawn(Sim::start(sim_config))
        .await
        .context("the fake Discord's runtime failed")?
        .context("cannot start the fake Discord")?;
    let sim = Arc::new(sim);

    let received = Arc::new(Received::default());
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let consumer = rts.consumer.spawn(consume(
        embedded.clone(),
        consumer_url,
        options.clone(),
        received.clone(),
        ready_tx,
    ));
    ready_rx
        .await
        .context("the consumer stopped")?
        .context("the consumer cannot subscribe")?;

    let result = async {
        let rest = RestClient::new(RestConfig {
            upstream: sim.http_url().to_owned(),
            ..RestConfig::default()
        })
        .await
        .context("REST client")?;
        // Sessions go where `switchyard run` keeps them: the key-value store beside Redis or
        // NATS, files otherwise.
        let sessions: Arc<dyn SessionStore> = match (backend, url) {
            (BenchBackend::Redis | BenchBackend::Nats, Some(url)) => {
                let kv = switchyard_broker::kv::open(url, &options, &dir.join("kv.json"))
                    .await
                    .context("the session store beside the broker")?;
                Arc::new(KvSessionStore::new(kv))
            }
            _ => Arc::new(
                FileSessionStore::new(dir.join(format!("{backend:?}")))
                    .context("bench session directory")?,
            ),
        };
        let mut gw = super::gateway_config(params.shards);
        gw.session_save_interval = params.session_save;
        if params.cache {
            gw.cache = switchyard_gateway::CacheConfig::all();
        }
        let deps = GatewayDeps {
            broker: broker.clone(),
            rest,
            sessions,
            shared: None,
        };
        let gateway = switchyard_gateway::start(gw, deps)
            .await
            .context("cannot start the gateway")?;
        let ready = gateway.wait_ready(Duration::from_secs(60)).await;
        let phases = if ready {
            tokio::time::sleep(Duration::from_millis(300)).await;
            phases(rts, &sim, &received, params).await
        } else {
            Err(anyhow::anyhow!(
                "the gateway's shards did not become ready: {:?}",
                gateway.status()
            ))
        };
        gateway.shutdown().await;
        let (fixed, full) = phases?;
        let alone = super::alone::broker_alone(
            broker,
            &sim,
            &received,
            params.events,
            params.rate,
            MIX_SIZE,
        )
        .await?;
        anyhow::Ok(BackendRun { fixed, full, alone })
    }
    .await;

    consumer.abort();
    if let Some(resp) = resp {
        resp.shutdown().await;
    }
    if let Ok(sim) = Arc::try_unwrap(sim) {
        let _ = rts.sim.spawn(sim.shutdown()).await;
    }
    result
}

async fn phases(
    rts: &Runtimes,
    sim: &Arc<SimHandle>,
    received: &Arc<Received>,
    params: Params,
) -> anyhow::Result<(Phase, Phase)> {
    // Warm-up: a fifth of the events, at most one second's worth.
    let warm = (params.events / 5).clamp(1, params.rate);
    fixed_rate(rts, sim, received, warm, params.rate).await?;
    let fixed = fixed_rate(rts, sim, received, params.events, params.rate).await?;
    let full = full_speed(rts, sim, received, params.events).await?;
    Ok((fixed, full))
}

/// Injects `count` events of the mix at `rate` events/s and waits for them.
async fn fixed_rate(
    rts: &Runtimes,
    sim: &Arc<SimHandle>,
    received: &Arc<Received>,
    count: u64,
    rate: u64,
) -> anyhow::Result<Phase> {
    paced_phase(received, count, || {
        rts.sim.spawn(drive(sim.clone(), count, rate))
    })
    .await
}

/// One paced phase: clears the samples, starts the driver (which returns how many events
/// it got out), waits for `count` events and sorts their latencies.
pub async fn paced_phase(
    received: &Arc<Received>,
    count: u64,
    start: impl FnOnce() -> tokio::task::JoinHandle<u64>,
) -> anyhow::Result<Phase> {
    lock(&received.samples).clear();
    let before = received.count.load(Ordering::Relaxed);
    let cpu = CpuSnapshot::take().context("cannot read thread CPU times")?;
    let start_ns = now_ns();
    let driver = start();
    let mut phase = wait(received, before, count, start_ns, &cpu, || {
        driver.is_finished()
    })
    .await?;
    phase.sent = driver.await.context("the phase's driver failed")?;
    let mut lat = std::mem::take(&mut *lock(&received.samples));
    lat.sort_unstable();
    phase.latencies = lat;
    Ok(phase)
}

/// `count` sends paced at `rate` per second in 1 ms ticks.
pub struct Pace {
    started: Instant,
    tick: tokio::time::Interval,
    count: u64,
    rate: u64,
}

impl Pace {
    pub fn new(count: u64, rate: u64) -> Self {
        let mut tick = tokio::time::interval(Duration::from_millis(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        Pace {
            started: Instant::now(),
            tick,
            count,
            rate,
        }
    }

    /// Waits for the next tick; returns how many sends are due by now in all.
    pub async fn due(&mut self) -> u64 {
        self.tick.tick().await;
        ((self.started.elapsed().as_secs_f64() * self.rate as f64) as u64 + 1).min(self.count)
    }
}

/// The fake's load mode as fast as the gateway reads, `count` events.
async fn full_speed(
    rts: &Runtimes,
    sim: &Arc<SimHandle>,
    received: &Arc<Received>,
    count: u64,
) -> anyhow::Result<Phase> {
    let before = received.count.load(Ordering::Relaxed);
    let cpu = CpuSnapshot::take().context("cannot read thread CPU times")?;
    let start_ns = now_ns();
    let spec = LoadSpec {
        rate: 0,
        total: count,
        duration_ms: 0,
        mix_size: MIX_SIZE,
    };
    let s = sim.clone();
    let load = rts
        .sim
        .spawn(async move { s.start_load(spec) })
        .await
        .context("the fake's runtime failed")?;
    let mut phase = wait(received, before, count, start_ns, &cpu, || {
        load.is_finished()
    })
    .await?;
    phase.sent = load.stop().await;
    Ok(phase)
}

/// Waits until `count` events past `before` arrived, or reception stalls after the sender
/// finished; then reads the CPU times.
async fn wait(
    received: &Received,
    before: u64,
    count: u64,
    start_ns: u64,
    cpu: &CpuSnapshot,
    sender_done: impl Fn() -> bool,
) -> anyhow::Result<Phase> {
    let resumed = received.resumed.load(Ordering::Relaxed);
    let mut last = (before, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let n = received.count.load(Ordering::Relaxed);
        if n - before >= count {
            break;
        }
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() > STALL && sender_done() {
            tracing::warn!("{} of {count} events arrived", n - before);
            break;
        } else if last.1.elapsed() > STALL * 10 {
            anyhow::bail!("no event arrived for {:?}", STALL * 10);
        }
    }
    let end = CpuSnapshot::take().context("cannot read thread CPU times")?;
    let last_ns = received.last_ns.load(Ordering::Relaxed);
    Ok(Phase {
        sent: 0,
        received: received.count.load(Ordering::Relaxed) - before,
        resumed: received.resumed.load(Ordering::Relaxed) - resumed,
        secs: last_ns.saturating_sub(start_ns) as f64 / 1e9,
        gateway_ns: end.gateway_ns_since(cpu),
        sim_ns: end.ns_since(cpu, SIM_THREADS),
        consumer_ns: end.ns_since(cpu, CONSUMER_THREADS),
        latencies: Vec::new(),
    })
}

/// On the fake's runtime: dispatches `count` events of the mix at `rate` events/s, each
/// MESSAGE_CREATE stamped with its send time. Returns how many the fake accepted (reached a
/// session).
///
/// The payloads stay pre-rendered (the stamp is written over a fixed-width placeholder), so
/// the fake spends little per event and the latency measured is the gateway's path, not the
/// fake's JSON work.
async fn drive(sim: Arc<SimHandle>, count: u64, rate: u64) -> u64 {
    let mix = switchyard_sim::build_mix(sim.world(), sim.config().world.seed, MIX_SIZE);
    let items: Vec<Stampable> = mix.into_iter().map(Stampable::new).collect();
    if items.is_empty() {
        tracing::error!("the fake's mix is empty");
        return 0;
    }
    let mut pace = Pace::new(count, rate);
    let (mut sent, mut accepted) = (0u64, 0u64);
    while sent < count {
        let due = pace.due().await;
        while sent < due {
            let Some(item) = items.get(sent as usize % items.len()) else {
                break;
            };
            if sim.dispatch_prerendered(&item.stamped(now_ns())) > 0 {
                accepted += 1;
            }
            sent += 1;
            // Let the session's connection write it before the next is stamped: events leave
            // one by one, as from Discord, rather than a tick's worth stamped at once and then
            // compressed and written one after the other on the fake's thread.
            tokio::task::yield_now().await;
        }
    }
    accepted
}

/// On the consumer's runtime: subscribes (in process to `embedded`, or through `url`) and
/// counts what arrives, noting the latency of stamped events.
async fn consume(
    embedded: EmbeddedBroker,
    url: Option<String>,
    options: BrokerOptions,
    received: Arc<Received>,
    ready: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
) {
    let subscribed = async {
        let pattern = Pattern::new("inbound.discord.>").context("pattern")?;
        let broker: Arc<dyn Broker> = match &url {
            Some(url) => switchyard_broker::connect(url, &options)
                .await
                .with_context(|| {
                    format!("cannot connect to {}", switchyard_broker::redact_url(url))
                })?,
            None => Arc::new(embedded),
        };
        let sub = broker.subscribe(&pattern).await.context("subscribe")?;
        anyhow::Ok((broker, sub))
    }
    .await;
    let (_broker, mut sub) = match subscribed {
        Ok(s) => {
            let _ = ready.send(Ok(()));
            s
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    while let Some(msg) = sub.recv().await {
        let now = now_ns();
        if measure::is_resumed(&msg.payload) {
            received.resumed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if let Some(stamp) = measure::stamp_of(&msg.payload) {
            lock(&received.samples).push(now.saturating_sub(stamp));
        }
        received.last_ns.store(now, Ordering::Relaxed);
        received.count.fetch_add(1, Ordering::Relaxed);
    }
}
