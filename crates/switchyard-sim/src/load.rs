//! Load mode: pre-rendered events from the mix, delivered to every session of the right shard
//! (intents and MESSAGE_CONTENT applied) at a fixed rate, or as fast as the clients read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::mix::{self, Prerendered};
use crate::state::session::Session;
use crate::state::{Load, Shared};
use crate::world::Guild;
use switchyard_core::gateway_proto::intents;

/// What load to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoadSpec {
    /// Events per second across all shards; 0 means as fast as the clients read (the
    /// generator waits while any connected target session has half its replay buffer
    /// unsent; a disconnected session only buffers, as it would on Discord).
    pub rate: u64,
    /// Stop after this many milliseconds (0: run until stopped).
    pub duration_ms: u64,
    /// Stop after this many events (0: no limit).
    pub total: u64,
    /// Size of the pre-rendered mix (1 to 65,536).
    pub mix_size: usize,
}

impl Default for LoadSpec {
    fn default() -> Self {
        Self {
            rate: 100,
            duration_ms: 0,
            total: 0,
            mix_size: 512,
        }
    }
}

/// The sessions each mix item goes to, with the payload variant each should get.
type Targets = Vec<Vec<(Arc<Session>, Arc<str>)>>;

fn targets(shared: &Shared, items: &[Prerendered]) -> (Targets, Vec<Arc<Session>>) {
    let sessions = shared.live_sessions();
    let table = items
        .iter()
        .map(|p| {
            sessions
                .iter()
                .filter(|s| Guild::shard(p.guild_id, s.shard[1]) == s.shard[0])
                .filter(|s| p.intent.is_none_or(|bit| s.intents & bit != 0))
                .map(|s| {
                    let d = match &p.d_stripped {
                        Some(stripped) if s.intents & intents::MESSAGE_CONTENT == 0 => {
                            stripped.clone()
                        }
                        _ => p.d.clone(),
                    };
                    (s.clone(), d)
                })
                .collect()
        })
        .collect();
    (table, sessions)
}

/// Dispatches one pre-rendered event now to every live session it is for (its guild's shard,
/// the intent it needs, the variant without content for sessions lacking MESSAGE_CONTENT),
/// waking each; returns how many sessions got it. The cheap path for a driver that paces
/// events itself: nothing is parsed or serialized.
pub fn dispatch_prerendered(shared: &Shared, item: &Prerendered) -> usize {
    let (table, _) = targets(shared, std::slice::from_ref(item));
    let mut delivered = 0;
    for (session, d) in table.into_iter().flatten() {
        if session.push_shared(&item.name, &d, true).is_some() {
            delivered += 1;
        }
    }
    delivered
}

/// Starts generating load.
pub fn start(shared: Arc<Shared>, spec: LoadSpec) -> Load {
    let items = mix::build(
        &shared.world,
        shared.config.world.seed,
        spec.mix_size.max(1),
    );
    let mean_frame_size = mix::mean_frame_size(&items);
    let stop = Arc::new(AtomicBool::new(false));
    let produced = Arc::new(AtomicU64::new(0));
    let (stop2, produced2) = (stop.clone(), produced.clone());
    let task = tokio::spawn(async move {
        run(shared, spec, items, stop2, produced2).await;
    });
    Load {
        stop,
        produced,
        task,
        mean_frame_size,
    }
}

/// How many events a generator at `rate` per second should have produced after `elapsed`.
fn due(rate: u64, elapsed: Duration) -> u64 {
    let n = u128::from(rate) * elapsed.as_micros() / 1_000_000;
    u64::try_from(n).unwrap_or(u64::MAX)
}

async fn run(
    shared: Arc<Shared>,
    spec: LoadSpec,
    items: Vec<Prerendered>,
    stop: Arc<AtomicBool>,
    produced: Arc<AtomicU64>,
) {
    let started = Instant::now();
    let deadline =
        (spec.duration_ms > 0).then(|| started + Duration::from_millis(spec.duration_ms));
    let half = (shared.config.replay_buffer / 2).max(1) as u64;
    let (mut table, mut all) = targets(&shared, &items);
    let mut refreshed = Instant::now();
    let mut i = 0usize;
    let mut n = 0u64;
    let tick = Duration::from_millis(10);
    let mut next_tick = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| Instant::now() >= d)
            || (spec.total > 0 && n >= spec.total)
        {
            break;
        }
        if refreshed.elapsed() >= Duration::from_millis(100) {
            (table, all) = targets(&shared, &items);
            refreshed = Instant::now();
        }
        let batch = if spec.rate == 0 {
            256
        } else {
            tokio::time::sleep_until(next_tick.into()).await;
            next_tick += tick;
            // what is due by now, catching up at most 100 ms worth per tick after a stall
            let behind = due(spec.rate, started.elapsed()).saturating_sub(n);
            behind.min(spec.rate.div_ceil(10)) as usize
        };
        for _ in 0..batch {
            if spec.total > 0 && n >= spec.total {
                break;
            }
            let idx = i % items.len();
            let (Some(item), Some(sessions)) = (items.get(idx), table.get(idx)) else {
                break;
            };
            if spec.rate == 0 {
                // as fast as the clients read: wait for room in every target session
                let mut waited = 0;
                while sessions.iter().any(|(s, _)| s.connected_backlog() >= half) {
                    if stop.load(Ordering::Relaxed) || waited > 5_000 {
                        break;
                    }
                    waited += 1;
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
            }
            for (s, d) in sessions {
                s.push_shared(&item.name, d, false);
            }
            i += 1;
            n += 1;
        }
        produced.store(n, Ordering::Relaxed);
        // one wake-up per session per batch
        for s in &all {
            s.notify.notify_one();
        }
        if spec.rate == 0 {
            tokio::task::yield_now().await;
        }
    }
    produced.store(n, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_follows_the_rate_without_rounding_up() {
        assert_eq!(due(1, Duration::from_millis(10)), 0);
        assert_eq!(due(1, Duration::from_millis(999)), 0);
        assert_eq!(due(1, Duration::from_secs(1)), 1);
        assert_eq!(due(20, Duration::from_millis(500)), 10);
        assert_eq!(due(100_000, Duration::from_millis(10)), 1_000);
    }
}
