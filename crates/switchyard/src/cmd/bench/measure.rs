//! What `switchyard bench` measures with: a process-wide monotonic clock for send stamps,
//! stamps written in place into pre-rendered payloads ([`Stampable`]),
//! per-thread CPU time from `/proc/self/task/*/schedstat` (nanoseconds, split between the
//! gateway's threads and the fake's and consumer's), resident memory from `/proc/self/status`,
//! and percentiles.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::Value;
use switchyard_sim::Prerendered;

/// Thread-name prefix of the fake Discord's runtime (its CPU is not the gateway's).
pub const SIM_THREADS: &str = "bench-sim";
/// Thread-name prefix of the consumer's runtime (its CPU is not the gateway's).
pub const CONSUMER_THREADS: &str = "bench-consumer";
/// Thread-name prefix of the face's runtime in `bench --face` (its CPU is not the gateway's).
pub const FACE_THREADS: &str = "bench-face";

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first call in this process; the fake stamps events with it and the
/// consumer compares against it, so both sides read the same monotonic clock.
pub fn now_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// On-CPU nanoseconds of each live thread, by thread id, with its name.
#[derive(Debug, Clone, Default)]
pub struct CpuSnapshot {
    threads: HashMap<u32, (String, u64)>,
}

impl CpuSnapshot {
    /// Reads every thread of this process.
    pub fn take() -> std::io::Result<Self> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task")? {
            let entry = entry?;
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path();
            // A thread may exit between listing and reading: skip it.
            let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
                continue;
            };
            let Ok(sched) = std::fs::read_to_string(dir.join("schedstat")) else {
                continue;
            };
            let Some(ns) = sched
                .split_whitespace()
                .next()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            threads.insert(tid, (comm.trim().to_owned(), ns));
        }
        Ok(CpuSnapshot { threads })
    }

    /// CPU nanoseconds spent since `earlier` by threads that are neither the fake's, the
    /// consumer's nor the face's (threads born in between count from zero).
    pub fn gateway_ns_since(&self, earlier: &CpuSnapshot) -> u64 {
        self.threads
            .iter()
            .filter(|(_, (name, _))| {
                ![SIM_THREADS, CONSUMER_THREADS, FACE_THREADS]
                    .iter()
                    .any(|p| name.starts_with(p))
            })
            .map(|(tid, (_, ns))| {
                let before = earlier.threads.get(tid).map_or(0, |(_, b)| *b);
                ns.saturating_sub(before)
            })
            .sum()
    }

    /// CPU nanoseconds spent since `earlier` by threads whose name starts with `prefix`.
    pub fn ns_since(&self, earlier: &CpuSnapshot, prefix: &str) -> u64 {
        self.threads
            .iter()
            .filter(|(_, (name, _))| name.starts_with(prefix))
            .map(|(tid, (_, ns))| {
                let before = earlier.threads.get(tid).map_or(0, |(_, b)| *b);
                ns.saturating_sub(before)
            })
            .sum()
    }
}

/// The resident set size of this process in bytes (`VmRSS`).
pub fn rss_bytes() -> std::io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| std::io::Error::other("no VmRSS line in /proc/self/status"))
}

/// The `q`-quantile (0 to 1) of sorted values, nearest rank.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// The send stamp in a payload: the fake's message `nonce` is set to `sy{nanoseconds}`.
pub fn stamp_of(payload: &[u8]) -> Option<u64> {
    const NEEDLE: &str = "\"nonce\":\"sy";
    let text = std::str::from_utf8(payload).ok()?;
    let at = text.find(NEEDLE)? + NEEDLE.len();
    let digits = text[at..].split('"').next()?;
    digits.parse().ok()
}

/// Whether an envelope is a RESUMED dispatch (its `t` comes before `d`, in the first bytes).
pub fn is_resumed(payload: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"\"t\":\"RESUMED\"";
    payload[..payload.len().min(256)]
        .windows(NEEDLE.len())
        .any(|w| w == NEEDLE)
}

/// The nonce carrying a send stamp, its digits zero-padded to a fixed width so that a
/// pre-rendered payload can take a new stamp in place.
pub fn stamp_nonce_padded(ns: u64) -> String {
    format!("sy{ns:0width$}", width = STAMP_DIGITS)
}

/// A pre-rendered event whose MESSAGE_CREATE `nonce` can carry a send stamp.
pub struct Stampable {
    item: Prerendered,
    /// Where the stamp's digits go in `d` and `d_stripped`.
    at: Option<(usize, Option<usize>)>,
}

/// The stamp's digits: enough for any `u64`, zero-padded.
const STAMP_DIGITS: usize = 20;

impl Stampable {
    pub fn new(mut item: Prerendered) -> Self {
        if &*item.name != "MESSAGE_CREATE" {
            return Stampable { item, at: None };
        }
        let placeholder = stamp_nonce_padded(0);
        let with_placeholder = |d: &str| -> Option<(Arc<str>, usize)> {
            let mut v: Value = serde_json::from_str(d).ok()?;
            v["nonce"] = Value::String(placeholder.clone());
            let text = v.to_string();
            let at = text.find(&placeholder)? + placeholder.len() - STAMP_DIGITS;
            Some((Arc::from(text), at))
        };
        let Some((d, at)) = with_placeholder(&item.d) else {
            return Stampable { item, at: None };
        };
        let stripped = item.d_stripped.as_deref().and_then(with_placeholder);
        item.d = d;
        let at_stripped = stripped.map(|(d, at)| {
            item.d_stripped = Some(d);
            at
        });
        Stampable {
            item,
            at: Some((at, at_stripped)),
        }
    }

    /// The event, stamped with `ns` if it is a MESSAGE_CREATE.
    pub fn stamped(&self, ns: u64) -> Prerendered {
        let Some((at, at_stripped)) = self.at else {
            return self.item.clone();
        };
        let nonce = stamp_nonce_padded(ns);
        let digits = &nonce[nonce.len() - STAMP_DIGITS..];
        let stamp = |d: &str, at: usize| -> Arc<str> {
            let mut text = d.to_owned();
            text.replace_range(at..at + STAMP_DIGITS, digits);
            Arc::from(text)
        };
        let mut item = self.item.clone();
        item.d = stamp(&self.item.d, at);
        if let (Some(d), Some(at)) = (&self.item.d_stripped, at_stripped) {
            item.d_stripped = Some(stamp(d, at));
        }
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_stamps_and_proc_files() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&[], 0.5), None);
        let p = format!(
            r#"{{"t":"MESSAGE_CREATE","d":{{"nonce":"{}","x":1}}}}"#,
            stamp_nonce_padded(42)
        );
        assert_eq!(stamp_of(p.as_bytes()), Some(42));
        assert_eq!(stamp_of(br#"{"nonce":"123"}"#), None);
        assert!(is_resumed(
            br#"{"v":1,"id":"x","s":"0","t":"RESUMED","seq":null,"d":{}}"#
        ));
        assert!(!is_resumed(
            br#"{"v":1,"t":"MESSAGE_CREATE","d":{"content":"\"t\":\"RESUMED\""}}"#
        ));
        let item = Prerendered {
            name: "MESSAGE_CREATE".into(),
            guild_id: 1,
            intent: None,
            d: r#"{"content":"hi","nonce":"123","id":"5"}"#.into(),
            d_stripped: Some(r#"{"content":"","nonce":"123","id":"5"}"#.into()),
        };
        let stamped = Stampable::new(item).stamped(987_654_321);
        for d in [&stamped.d, stamped.d_stripped.as_ref().expect("stripped")] {
            assert_eq!(stamp_of(d.as_bytes()), Some(987_654_321), "{d}");
            let v: serde_json::Value = serde_json::from_str(d).expect("still JSON");
            assert_eq!(v["id"], "5");
        }
        assert!(rss_bytes().expect("VmRSS") > 0);
        let a = CpuSnapshot::take().expect("schedstat");
        let b = CpuSnapshot::take().expect("schedstat");
        let _ = b.gateway_ns_since(&a);
    }
}
