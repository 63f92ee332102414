//! What the migration bench's durable group received (per shard: how often each sequence
//! came, and the span of `received_ms` under each epoch), and what is computed from it: the
//! events lost or delivered twice, and the handover gaps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchyard_sim::SimHandle;

/// What the group got, per shard.
#[derive(Default)]
pub(super) struct Shard {
    /// How many times each sequence arrived, indexed by sequence.
    count: Vec<u8>,
    /// Per epoch: the first and last `received_ms` under it.
    epochs: BTreeMap<u64, (u64, u64)>,
}

pub(super) type Record = Arc<Mutex<BTreeMap<u32, Shard>>>;

pub(super) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The envelope's fields the recorder reads (`d` is skipped, not built).
#[derive(serde::Deserialize)]
struct Seen {
    shard: u32,
    seq: Option<u64>,
    received_ms: u64,
    epoch: Option<u64>,
}

pub(super) fn note(record: &Mutex<BTreeMap<u32, Shard>>, payload: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Seen>(payload) else {
        return;
    };
    let (shard, Some(Ok(seq))) = (v.shard, v.seq.map(usize::try_from)) else {
        return;
    };
    let received = v.received_ms;
    let mut record = record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let s = record.entry(shard).or_default();
    if s.count.len() <= seq {
        s.count.resize(seq + 1, 0);
    }
    s.count[seq] = s.count[seq].saturating_add(1);
    if let Some(epoch) = v.epoch {
        let span = s.epochs.entry(epoch).or_insert((received, received));
        span.0 = span.0.min(received);
        span.1 = span.1.max(received);
    }
}

/// Waits until the group has every sequence the fake's sessions sent, or until it has
/// received nothing new for 30 s (a group behind at a high rate is still catching up).
pub(super) async fn settle(sim: &SimHandle, record: &Record) {
    let mut missing = tally(sim, record).0;
    let mut progress = Instant::now();
    while missing > 0 && progress.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = tally(sim, record).0;
        if now < missing {
            progress = Instant::now();
        }
        missing = now;
    }
}

/// (sequences missing, sequences delivered more than once) over every session.
pub(super) fn tally(sim: &SimHandle, record: &Record) -> (u64, u64) {
    let record = record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut lost = 0;
    let mut twice = 0;
    for session in sim.counters().sessions {
        let got = record.get(&session.shard[0]);
        let last = usize::try_from(session.last_seq).unwrap_or(usize::MAX);
        for seq in 1..=last {
            match got.and_then(|s| s.count.get(seq)).copied().unwrap_or(0) {
                0 => lost += 1,
                1 => {}
                _ => twice += 1,
            }
        }
    }
    (lost, twice)
}

/// The handover gaps, sorted: for each shard, between the last event under one epoch and
/// the first under the next, in order of epoch.
pub(super) fn handover_gaps(record: &Record) -> Vec<u64> {
    let mut gaps = all_gaps(record);
    gaps.sort_unstable();
    gaps
}

/// The gaps, sorted, of the handovers of `shards` whose new owner's first event came
/// after `since` (Unix ms).
pub(super) fn gaps_of(record: &Record, shards: &BTreeSet<u32>, since: u64) -> Vec<u64> {
    let mut gaps: Vec<u64> = timed_gaps(record)
        .into_iter()
        .filter(|(shard, at, _)| shards.contains(shard) && *at >= since)
        .map(|(_, _, g)| g)
        .collect();
    gaps.sort_unstable();
    gaps
}

/// When the last handover's new owner sent its first event (Unix ms).
pub(super) fn last_handover(record: &Record) -> u64 {
    timed_gaps(record)
        .iter()
        .map(|(_, at, _)| *at)
        .max()
        .unwrap_or(0)
}

fn all_gaps(record: &Record) -> Vec<u64> {
    timed_gaps(record).into_iter().map(|(_, _, g)| g).collect()
}

/// (shard, when the new owner's first event came, gap) of every handover.
fn timed_gaps(record: &Record) -> Vec<(u32, u64, u64)> {
    let record = record
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out = Vec::new();
    for (id, shard) in record.iter() {
        let spans: Vec<&(u64, u64)> = shard.epochs.values().collect();
        for pair in spans.windows(2) {
            let (old, new) = (pair[0], pair[1]);
            out.push((*id, new.0, new.0.saturating_sub(old.1)));
        }
    }
    out
}
