//! The registry of live services: who identified (name, instance, version, the worker groups
//! it reads in), when, and when it was last heard from. An entry lapses after the TTL unless the service identifies again
//! (the SDK repeats IDENTIFY as its heartbeat).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use switchyard_core::control::JoinedGroup;

/// One live service instance, for `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceEntry {
    /// The service's name.
    pub name: String,
    /// The instance.
    pub instance: String,
    /// The version it announced.
    pub version: String,
    /// When it first identified (Unix seconds).
    pub identified_at: u64,
    /// Seconds since it was last heard from.
    pub last_seen_s: u64,
    /// The worker groups it reads in, as its last IDENTIFY said.
    pub groups: Vec<JoinedGroup>,
}

#[derive(Debug)]
struct Live {
    version: String,
    groups: Vec<JoinedGroup>,
    identified_at: u64,
    last_seen: Instant,
}

/// Live services, shared between the control loop and the status page.
#[derive(Debug, Clone)]
pub struct Registry {
    ttl: Duration,
    inner: Arc<Mutex<BTreeMap<(String, String), Live>>>,
}

impl Registry {
    /// An empty registry whose entries lapse after `ttl` without a heartbeat.
    pub fn new(ttl: Duration) -> Self {
        Registry {
            ttl,
            inner: Arc::default(),
        }
    }

    /// Records an IDENTIFY (with the groups it names); true when this instance was not
    /// registered (or had lapsed).
    pub fn identified(
        &self,
        name: &str,
        instance: &str,
        version: &str,
        groups: &[JoinedGroup],
    ) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let ttl = self.ttl;
        map.retain(|_, l| l.last_seen.elapsed() < ttl);
        let key = (name.to_owned(), instance.to_owned());
        match map.get_mut(&key) {
            Some(live) => {
                live.last_seen = Instant::now();
                live.version = version.to_owned();
                live.groups = groups.to_vec();
                false
            }
            None => {
                let identified_at = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                map.insert(
                    key,
                    Live {
                        version: version.to_owned(),
                        groups: groups.to_vec(),
                        identified_at,
                        last_seen: Instant::now(),
                    },
                );
                true
            }
        }
    }

    /// Forgets an instance (it shut down), or every instance of `name`.
    pub fn forget(&self, name: &str, instance: Option<&str>) {
        let mut map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.retain(|(n, i), _| !(n == name && instance.is_none_or(|want| want == i)));
    }

    /// The live services, sorted by name and instance.
    pub fn snapshot(&self) -> Vec<ServiceEntry> {
        let map = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .filter(|(_, l)| l.last_seen.elapsed() < self.ttl)
            .map(|((name, instance), l)| ServiceEntry {
                name: name.clone(),
                instance: instance.clone(),
                version: l.version.clone(),
                identified_at: l.identified_at,
                last_seen_s: l.last_seen.elapsed().as_secs(),
                groups: l.groups.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_lapse_without_heartbeats() {
        let r = Registry::new(Duration::from_millis(50));
        let group = [JoinedGroup {
            name: "workers".into(),
            pattern: "inbound.>".into(),
            kind: "durable".into(),
        }];
        assert!(r.identified("echo", "e1", "1.0", &[]));
        assert!(
            !r.identified("echo", "e1", "1.1", &group),
            "a heartbeat, not a new instance"
        );
        assert!(r.identified("echo", "e2", "1.0", &[]));
        assert_eq!(r.snapshot().len(), 2);
        assert_eq!(r.snapshot()[0].version, "1.1");
        assert_eq!(
            r.snapshot()[0].groups,
            group,
            "the latest IDENTIFY's groups"
        );
        r.forget("echo", Some("e2"));
        assert_eq!(r.snapshot().len(), 1);
        std::thread::sleep(Duration::from_millis(60));
        assert!(r.snapshot().is_empty());
        assert!(
            r.identified("echo", "e1", "1.1", &[]),
            "registered again after lapsing"
        );
    }
}
