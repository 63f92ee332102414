//! `switchyard bench --queries`: the cache's query API under load. A fake Discord with one
//! guild of `--members` members, a gateway keeping its cache (the members asked for with
//! op 8, as `request_members` does), and the admin listener, all in this process; then:
//!
//! - member prefix searches straight on the cache (no HTTP), timed one by one;
//! - an open-loop load of `--query-rate` HTTP queries a second for `--query-secs` seconds
//!   (a mix of members, searches, pages, permissions, the guild and its roles) from threads
//!   of its own, each query timed from when it was sent to its answer; how late each was
//!   sent after it was due is reported beside, so that a load that could not keep its
//!   schedule shows;
//! - the same load as gRPC `Cache.Read` calls, each read the one its HTTP query asks.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use switchyard_api::proto::ReadRequest;
use switchyard_api::proto::cache_client::CacheClient;
use switchyard_broker::embedded::EmbeddedBroker;
use switchyard_gateway::{CacheConfig, CacheQuery, FileSessionStore, GatewayDeps};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Sim, SimConfig};

use super::measure::quantile;
use crate::admin;
use crate::cli::BenchArgs;
use crate::config::AdminConfig;

/// Concurrent HTTP connections of the load.
const CONNECTIONS: usize = 32;

/// Runs the query benchmark; `false` when a target was missed.
pub async fn run(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<bool> {
    let mut sim_config = SimConfig::fast();
    sim_config.world.guilds = 1;
    sim_config.world.members_per_guild = args.members as usize;
    let sim = Sim::start(sim_config)
        .await
        .context("cannot start the fake Discord")?;
    let world = sim.world();
    let guild = world
        .guilds
        .first()
        .context("the fake's world has no guild")?;
    let rest = RestClient::new(RestConfig {
        upstream: sim.http_url().to_owned(),
        ..RestConfig::default()
    })
    .await
    .context("REST client")?;
    let mut gw = super::gateway_config(1);
    gw.cache = CacheConfig {
        request_members: true,
        ..CacheConfig::all()
    };
    let deps = GatewayDeps {
        broker: Arc::new(EmbeddedBroker::new(Default::default())),
        rest,
        sessions: Arc::new(FileSessionStore::new(dir.join("queries")).context("sessions")?),
        shared: None,
    };
    let gateway = switchyard_gateway::start(gw, deps)
        .await
        .context("cannot start the gateway")?;
    let view = gateway.cache_view();
    let filled = Instant::now();
    // the fake's members, and the bot's own member, which comes in a chunk of its own
    let members = wait_filled(&view, guild.id, guild.members.len() + 1).await?;
    println!(
        "queries   cache filled: {members} members of one guild in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    let names: Vec<String> = guild
        .members
        .iter()
        .map(|m| m.user.username.chars().take(3).collect())
        .collect();
    let search_ok = direct_searches(&view, guild.id, &names);
    let admin_config = AdminConfig {
        bind: "127.0.0.1:0".parse().context("loopback")?,
        ..AdminConfig::default()
    };
    let status: admin::StatusFn = Arc::new(|| serde_json::json!({}));
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .build_recorder()
        .handle();
    let addr = admin::serve(
        &admin_config,
        "bench",
        metrics,
        status,
        admin::Parts {
            caches: vec![view],
            ..Default::default()
        },
    )
    .await?;
    let http = Mix::Http {
        base: format!("http://{addr}"),
        paths: query_paths(guild, &names),
    };
    let http_ok = open_loop(args, http).await?;
    let grpc = switchyard_api::serve(
        "127.0.0.1:0".parse().context("loopback")?,
        None,
        switchyard_api::GrpcParts {
            bots: Vec::new(),
            caches: vec![gateway.cache_view()],
            control: None,
            rest: Vec::new(),
        },
    )
    .await?;
    let reads = Mix::Grpc {
        addr: format!("http://{}", grpc.local_addr()),
        reads: query_reads(guild, &names),
    };
    let grpc_ok = open_loop(args, reads).await?;
    grpc.shutdown().await;
    gateway.shutdown().await;
    Ok(search_ok && http_ok && grpc_ok)
}

/// Waits until the cache holds `want` members of `guild`; returns how many it holds.
async fn wait_filled(
    view: &switchyard_gateway::CacheView,
    guild: u64,
    want: usize,
) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let counts = view.counts().ok();
        let members = counts
            .as_ref()
            .and_then(|c| c["shards"][0]["counts"]["members"].as_u64())
            .unwrap_or(0) as usize;
        if members >= want {
            return Ok(members);
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "the cache holds {members} of guild {guild}'s {want} members after 10 minutes"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prefix searches straight on the cache: the first builds the guild's name index.
fn direct_searches(view: &switchyard_gateway::CacheView, guild: u64, names: &[String]) -> bool {
    let search = |prefix: &str| CacheQuery::SearchMembers {
        guild,
        prefix: Some(prefix.to_owned()),
        role: None,
        status: None,
        limit: 100,
    };
    let first = Instant::now();
    let _ = view.query(&search("a"));
    let build = first.elapsed();
    let mut times: Vec<u64> = names
        .iter()
        .step_by((names.len() / 10_000).max(1))
        .map(|prefix| {
            let t = Instant::now();
            let _ = view.query(&search(prefix));
            t.elapsed().as_nanos() as u64
        })
        .collect();
    times.sort_unstable();
    let p99 = quantile(&times, 0.99).unwrap_or(0);
    println!(
        "queries   prefix search on {} members, up to 100 found: p50 {} p99 {} max {} over {} searches (the index built in {:.0} ms on the first) [target p99 < 1 ms: {}]",
        names.len(),
        us(quantile(&times, 0.5)),
        us(Some(p99)),
        us(times.last().copied()),
        times.len(),
        build.as_secs_f64() * 1e3,
        super::verdict(p99 < 1_000_000)
    );
    p99 < 1_000_000
}

/// What each request of [`query_paths`]' cycle asks, in its order.
const KINDS: [&str; 8] = [
    "member",
    "member",
    "name search",
    "permissions",
    "member page",
    "guild",
    "roles",
    "presence",
];

/// The mix of requests the load cycles through: [`KINDS`], over and over.
fn query_paths(guild: &switchyard_sim::Guild, names: &[String]) -> Vec<String> {
    let g = format!("/v1/cache/bench/guilds/{}", guild.id);
    let channel = guild.channels.first().map_or(guild.id, |c| c.id);
    let mut paths = Vec::new();
    for (i, m) in guild.members.iter().enumerate().step_by(97).take(2_000) {
        let user = m.user.id;
        paths.push(format!("{g}/members/{user}"));
        paths.push(format!("{g}/members/{user}"));
        paths.push(format!("{g}/members/search?query={}&limit=10", names[i]));
        paths.push(format!(
            "{g}/members/{user}/permissions?channel_id={channel}"
        ));
        paths.push(format!("{g}/members?after={user}&limit=10"));
        paths.push(g.clone());
        paths.push(format!("{g}/roles"));
        paths.push(format!("{g}/members/{user}/presence"));
    }
    debug_assert_eq!(
        paths.len() % KINDS.len(),
        0,
        "one path per kind, in KINDS' order"
    );
    paths
}

/// The same reads as [`query_paths`], as gRPC `Cache.Read` requests.
fn query_reads(guild: &switchyard_sim::Guild, names: &[String]) -> Vec<ReadRequest> {
    use switchyard_api::proto::{
        GuildRef, MemberRef, MemberSearch, MembersPage, PermissionsQuery, read_request::Query,
    };
    let g = guild.id;
    let channel = guild.channels.first().map_or(g, |c| c.id);
    let mut reads = Vec::new();
    for (i, m) in guild.members.iter().enumerate().step_by(97).take(2_000) {
        let user = m.user.id;
        let member = MemberRef { guild: g, user };
        reads.extend([
            Query::Member(member),
            Query::Member(member),
            Query::SearchMembers(MemberSearch {
                guild: g,
                prefix: names[i].clone(),
                limit: 10,
                ..MemberSearch::default()
            }),
            Query::Permissions(PermissionsQuery {
                guild: g,
                user,
                channel: Some(channel),
            }),
            Query::MembersPage(MembersPage {
                guild: g,
                after: user,
                limit: 10,
            }),
            Query::Guild(GuildRef { guild: g }),
            Query::Roles(GuildRef { guild: g }),
            Query::Presence(member),
        ]);
    }
    reads
        .into_iter()
        .map(|q| ReadRequest { query: Some(q) })
        .collect()
}

/// What the load sends: HTTP queries of the cache API, or gRPC reads of the Cache service,
/// in [`KINDS`]' order.
enum Mix {
    Http {
        base: String,
        paths: Vec<String>,
    },
    Grpc {
        addr: String,
        reads: Vec<ReadRequest>,
    },
}

impl Mix {
    fn name(&self) -> &'static str {
        match self {
            Mix::Http { .. } => "HTTP",
            Mix::Grpc { .. } => "gRPC",
        }
    }

    fn len(&self) -> usize {
        match self {
            Mix::Http { paths, .. } => paths.len(),
            Mix::Grpc { reads, .. } => reads.len(),
        }
    }
}

/// One connection of the load, on a runtime of its own.
enum Client {
    Http(reqwest::Client),
    Grpc(CacheClient<tonic::transport::Channel>),
}

impl Client {
    fn new(mix: &Mix, rt: &tokio::runtime::Runtime) -> anyhow::Result<Self> {
        Ok(match mix {
            Mix::Http { .. } => Client::Http(
                reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .context("HTTP client")?,
            ),
            Mix::Grpc { addr, .. } => {
                let endpoint = tonic::transport::Endpoint::from_shared(addr.clone())
                    .context("gRPC address")?;
                let channel = rt.block_on(endpoint.connect()).context("gRPC client")?;
                Client::Grpc(CacheClient::new(channel))
            }
        })
    }

    /// Asks query `i` of `mix`; whether it was answered (a miss counts as an answer).
    async fn ask(&mut self, mix: &Mix, i: usize) -> bool {
        match (self, mix) {
            (Client::Http(client), Mix::Http { base, paths }) => {
                let Ok(r) = client.get(format!("{base}{}", paths[i])).send().await else {
                    return false;
                };
                let ok = r.status().is_success() || r.status().as_u16() == 404;
                r.bytes().await.is_ok() && ok
            }
            (Client::Grpc(client), Mix::Grpc { reads, .. }) => {
                match client.read(reads[i].clone()).await {
                    Ok(_) => true,
                    Err(status) => status.code() == tonic::Code::NotFound,
                }
            }
            _ => false,
        }
    }
}

/// The open-loop load; `false` when its p99 misses 1 ms or the rate was not kept.
///
/// Each connection is an OS thread of its own that sleeps until its next request is due
/// (`std::thread::sleep`, whose timer wakes within tens of microseconds) and then sends it
/// on a runtime of its own. Paced by tokio's timers instead, which wake on millisecond
/// ticks, the requests of a whole millisecond (ten at 10,000/s) left together, and each
/// waited behind the others: that measured the generator's bursts more than the server.
/// The server keeps this process's runtime to itself; the generator still shares the
/// machine's cores with it.
async fn open_loop(args: &BenchArgs, mix: Mix) -> anyhow::Result<bool> {
    let total = args.query_rate * args.query_secs;
    let interval = Duration::from_secs_f64(1.0 / args.query_rate as f64);
    let start = Instant::now() + Duration::from_millis(200);
    let (name, paths_len) = (mix.name(), mix.len());
    let mix = Arc::new(mix);
    let mut threads = Vec::new();
    for worker in 0..CONNECTIONS {
        let mix = mix.clone();
        let load = Load {
            first: worker as u64,
            total,
            start,
            interval,
        };
        threads.push(
            std::thread::Builder::new()
                .name(format!("query-load-{worker}"))
                .spawn(move || load.run(&mix))
                .context("cannot start a load thread")?,
        );
    }
    let began = Instant::now();
    let outcomes = tokio::task::spawn_blocking(move || {
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .map_err(|_| anyhow::anyhow!("a load thread panicked"))?
            })
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .await
    .context("the load threads")??;
    let (mut times, mut late) = (Vec::new(), Vec::new());
    let mut by_kind: Vec<Vec<u64>> = vec![Vec::new(); KINDS.len()];
    let mut errors = 0;
    for o in outcomes {
        for (n, t) in o.times {
            // the paths come in groups of KINDS.len(), one kind each, in KINDS' order
            by_kind[n as usize % paths_len % KINDS.len()].push(t);
            times.push(t);
        }
        late.extend(o.late);
        errors += o.errors;
    }
    late.sort_unstable();
    let secs = began.elapsed().as_secs_f64();
    times.sort_unstable();
    let p99 = quantile(&times, 0.99).unwrap_or(u64::MAX);
    let rate = times.len() as f64 / secs;
    let met = p99 < 1_000_000 && errors == 0 && rate >= args.query_rate as f64 * 0.95;
    println!(
        "queries   {name} at {} queries/s for {} s over {CONNECTIONS} connections: {:.0} answered/s, {errors} errors, latency p50 {} p99 {} max {}, sent late after due p50 {} p99 {} [target p99 < 1 ms at 10,000/s: {}]",
        args.query_rate,
        args.query_secs,
        rate,
        us(quantile(&times, 0.5)),
        us(Some(p99)),
        us(times.last().copied()),
        us(quantile(&late, 0.5)),
        us(quantile(&late, 0.99)),
        super::verdict(met)
    );
    let mut kinds: Vec<(&str, Vec<u64>)> = Vec::new();
    for (i, mut t) in by_kind.into_iter().enumerate() {
        match kinds.iter_mut().find(|(k, _)| *k == KINDS[i]) {
            Some((_, all)) => all.append(&mut t),
            None => kinds.push((KINDS[i], t)),
        }
    }
    for (kind, mut t) in kinds {
        t.sort_unstable();
        println!(
            "queries     {kind:<12} p50 {} p99 {} max {} ({} answered)",
            us(quantile(&t, 0.5)),
            us(quantile(&t, 0.99)),
            us(t.last().copied()),
            t.len()
        );
    }
    Ok(met)
}

/// One connection's share of the load: requests `first`, `first + CONNECTIONS`, … below
/// `total`, request `n` due `n * interval` after `start`.
struct Load {
    first: u64,
    total: u64,
    start: Instant,
    interval: Duration,
}

/// What one connection measured, in nanoseconds.
#[derive(Default)]
struct Outcome {
    /// Each request's number, and the time from its send to the last byte of its answer.
    times: Vec<(u64, u64)>,
    /// How late each request was sent after it was due.
    late: Vec<u64>,
    errors: u64,
}

impl Load {
    fn run(self, mix: &Mix) -> anyhow::Result<Outcome> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a load thread's runtime")?;
        let mut client = Client::new(mix, &rt)?;
        let mut out = Outcome::default();
        let mut n = self.first;
        while n < self.total {
            let due = self.start + self.interval * n as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let sent = Instant::now();
            out.late
                .push(sent.saturating_duration_since(due).as_nanos() as u64);
            match rt.block_on(client.ask(mix, n as usize % mix.len())) {
                true => out.times.push((n, sent.elapsed().as_nanos() as u64)),
                false => out.errors += 1,
            }
            n += CONNECTIONS as u64;
        }
        Ok(out)
    }
}

fn us(ns: Option<u64>) -> String {
    ns.map_or("-".into(), |ns| format!("{:.0} µs", ns as f64 / 1e3))
}
