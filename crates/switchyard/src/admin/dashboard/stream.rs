//! The dashboard's live feed: one task per listener takes a snapshot a second (`snapshot`)
//! and keeps the last minutes of the chart series; each page gets them over one server-sent
//! event stream (`history` once, then `snapshot` events), whatever the number of pages. The
//! broker's dead letters are read from the broker itself, every few snapshots while a page
//! watches.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use switchyard_broker::{Broker, BrokerError};
use switchyard_gateway::CacheView;
use switchyard_rest::Limiter;
use tokio::sync::watch;

use super::admit;
use super::prom::Samples;
use super::snapshot::{Builder, Inputs};
use crate::admin::{AdminState, StatusFn};

/// How often a snapshot is taken.
const PERIOD: Duration = Duration::from_secs(1);

/// How many chart points are kept: five minutes.
const HISTORY: usize = 300;

/// How many snapshots pass between two readings of the caches' sizes (a reading walks a
/// whole cache under its lock, so not every second).
const CACHE_EVERY: u32 = 10;

/// How many snapshots pass between two readings of the broker's dead letters and groups (a
/// few round trips to the broker per stream).
const BROKER_EVERY: u32 = 5;

/// How long a reading from the broker may take before the snapshot goes on without it.
const BROKER_TIMEOUT: Duration = Duration::from_secs(3);

/// What the snapshots are made from.
pub(in crate::admin) struct Sources {
    /// The process's metrics.
    pub metrics: PrometheusHandle,
    /// Its `/status` document.
    pub status: StatusFn,
    /// The caches of its bots.
    pub caches: Arc<Vec<CacheView>>,
    /// Its REST limiter, for the busiest buckets and the queued requests.
    pub limiter: Option<Arc<Limiter>>,
    /// Its broker, for the dead letters and the durable groups.
    pub broker: Option<Arc<dyn Broker>>,
    /// The command (`run`, `face`, …).
    pub command: &'static str,
    /// When the listener started.
    pub started: Instant,
}

/// The latest snapshot and the chart history, for the pages.
pub(super) struct Feed {
    latest: watch::Receiver<Arc<str>>,
    history: Arc<Mutex<VecDeque<Value>>>,
}

impl Feed {
    /// A feed that never changes (for tests of the checks).
    #[cfg(test)]
    pub(super) fn idle() -> Feed {
        let (_, latest) = watch::channel(Arc::from("{}"));
        Feed {
            latest,
            history: Arc::default(),
        }
    }
}

/// Starts taking snapshots of `sources`.
pub(super) fn start(sources: Sources) -> Feed {
    let (tx, latest) = watch::channel(Arc::<str>::from("{}"));
    let history: Arc<Mutex<VecDeque<Value>>> = Arc::default();
    let points = history.clone();
    tokio::spawn(async move {
        let mut builder = Builder::default();
        let mut caches = Vec::new();
        let (mut dead, mut groups) = (Value::Null, Value::Null);
        let mut tick = tokio::time::interval(PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for n in 0u32.. {
            tick.tick().await;
            let watched = tx.receiver_count() > 1;
            if watched && (n % CACHE_EVERY == 0 || caches.is_empty()) {
                caches = sources
                    .caches
                    .iter()
                    .filter_map(|c| c.counts().ok())
                    .collect();
            }
            if let Some(broker) = sources.broker.as_deref().filter(|_| watched)
                && (n % BROKER_EVERY == 0 || dead.is_null())
            {
                dead = dead_letters(broker).await;
                groups = durable_groups(broker).await;
            }
            let snapshot = take(&sources, &mut builder, &caches, (&dead, &groups));
            let point = json!({
                "at_ms": snapshot["at_ms"],
                "events_per_s": snapshot["events_per_s"],
                "queue_depth": snapshot["queue_depth"],
            });
            {
                let mut points = points.lock().unwrap_or_else(|e| e.into_inner());
                if points.len() == HISTORY {
                    points.pop_front();
                }
                points.push_back(point);
            }
            if tx.send(Arc::from(snapshot.to_string())).is_err() {
                break;
            }
        }
    });
    Feed { latest, history }
}

/// The broker's dead letters for the page: how many, and how many per group; or why there
/// are none to count.
async fn dead_letters(broker: &dyn Broker) -> Value {
    let dead = match broker.dead_letters() {
        Ok(dead) => dead,
        Err(BrokerError::Unsupported { .. }) => {
            return json!({"kept": false, "why": format!("the {} broker keeps no dead letters (only durable mode does)", broker.backend())});
        }
        Err(e) => return json!({"kept": true, "error": e.to_string()}),
    };
    match tokio::time::timeout(BROKER_TIMEOUT, dead.queues()).await {
        Ok(Ok(queues)) => {
            let mut groups = std::collections::BTreeMap::<String, u64>::new();
            for (group, n) in queues.iter().flat_map(|q| &q.groups) {
                *groups.entry(group.clone()).or_default() += n;
            }
            json!({
                "kept": true,
                "count": queues.iter().map(|q| q.count).sum::<u64>(),
                "groups": groups,
            })
        }
        Ok(Err(e)) => json!({"kept": true, "error": e.to_string()}),
        Err(_) => json!({"kept": true, "error": "the broker did not answer within 3 s"}),
    }
}

/// The durable groups the broker keeps, read from it; or why there are none to list.
async fn durable_groups(broker: &dyn Broker) -> Value {
    match tokio::time::timeout(BROKER_TIMEOUT, broker.durable_groups()).await {
        Ok(Ok(groups)) => json!({"kept": true, "groups": groups}),
        Ok(Err(BrokerError::Unsupported { .. })) => {
            json!({"kept": false, "why": format!("the {} broker keeps no durable groups (only durable mode does)", broker.backend())})
        }
        Ok(Err(e)) => json!({"kept": true, "error": e.to_string()}),
        Err(_) => json!({"kept": true, "error": "the broker did not answer within 3 s"}),
    }
}

/// A snapshot; `(dead, groups)` are the broker's readings as last taken.
fn take(
    sources: &Sources,
    builder: &mut Builder,
    caches: &[Value],
    (dead, groups): (&Value, &Value),
) -> Value {
    let mut status = json!({
        "command": sources.command,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": sources.started.elapsed().as_secs(),
    });
    if let (Value::Object(doc), Value::Object(extra)) = (&mut status, (sources.status)()) {
        doc.extend(extra);
    }
    let samples = Samples::parse(&sources.metrics.render());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let buckets = sources.limiter.as_ref().map(|l| l.buckets());
    builder.build(&Inputs {
        status: &status,
        samples: &samples,
        caches,
        buckets: buckets.as_deref(),
        dead_letters: dead,
        broker_groups: groups,
        now_ms,
    })
}

/// `GET /dashboard/stream`: the history, then a snapshot each second.
pub(super) async fn events(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(refused) = admit(&state, &headers) {
        return refused;
    }
    let feed = &state.dashboard.feed;
    let history: Vec<Value> = feed
        .history
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let first = Event::default()
        .event("history")
        .data(Value::Array(history).to_string());
    let mut latest = feed.latest.clone();
    latest.mark_changed();
    let snapshots = futures_util::stream::unfold(latest, |mut rx| async move {
        rx.changed().await.ok()?;
        let data = rx.borrow_and_update().clone();
        let event = Event::default().event("snapshot").data(&*data);
        Some((Ok::<_, Infallible>(event), rx))
    });
    let stream = futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok::<_, Infallible>(first) }),
        snapshots,
    );
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}
