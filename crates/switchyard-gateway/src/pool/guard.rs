//! Which SHARD_ACCEPT a node obeys: only one from the current holder of the coordinator's
//! lease. A node that lost the lease without noticing (partitioned from the key-value store,
//! paused, or just slow) must not move shards under the real coordinator.
//!
//! Two checks, cheapest first: the ACCEPT's `term` must not be below the highest term this
//! node has obeyed (terms only grow), and the lease, read from the store, must name the
//! sender (`s` of the message). An ACCEPT without a term (from an older gateway) gets the
//! second check only. When the store cannot be read, the ACCEPT is ignored: the node keeps
//! what it runs until the next one, a beat later.

use std::time::Duration;

use switchyard_broker::kv::KvStore;

/// Why a SHARD_ACCEPT was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// A newer coordinator has spoken since.
    #[error("term {term} is older than term {highest}, already obeyed")]
    Superseded {
        /// The ACCEPT's term.
        term: u64,
        /// The highest term obeyed.
        highest: u64,
    },
    /// Nobody holds the lease now.
    #[error("nobody holds the coordinator's lease")]
    NoHolder,
    /// Another node holds the lease.
    #[error("the coordinator's lease is held by {holder:?}")]
    NotHolder {
        /// The lease's holder.
        holder: String,
    },
    /// The lease could not be read.
    #[error("cannot read the coordinator's lease: {0}")]
    Unverified(String),
}

impl Refusal {
    /// A short label for the metric.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Refusal::Superseded { .. } => "superseded",
            Refusal::NoHolder => "no_holder",
            Refusal::NotHolder { .. } => "not_holder",
            Refusal::Unverified(_) => "unverified",
        }
    }
}

/// A node's memory of the coordinators it obeyed.
#[derive(Debug)]
pub(crate) struct AcceptGuard {
    key: String,
    timeout: Duration,
    highest: Option<u64>,
}

impl AcceptGuard {
    /// A guard reading the lease `key`, each read bounded by `timeout`.
    pub(crate) fn new(key: String, timeout: Duration) -> Self {
        AcceptGuard {
            key,
            timeout,
            highest: None,
        }
    }

    /// Whether to obey a SHARD_ACCEPT sent by `from` with `term`.
    pub(crate) async fn check(
        &mut self,
        kv: &dyn KvStore,
        from: &str,
        term: Option<u64>,
    ) -> Result<(), Refusal> {
        if let (Some(term), Some(highest)) = (term, self.highest)
            && term < highest
        {
            return Err(Refusal::Superseded { term, highest });
        }
        let entry = match tokio::time::timeout(self.timeout, kv.get(&self.key)).await {
            Ok(Ok(entry)) => entry,
            Ok(Err(e)) => return Err(Refusal::Unverified(e.to_string())),
            Err(_) => {
                return Err(Refusal::Unverified(format!(
                    "no answer within {} ms",
                    self.timeout.as_millis()
                )));
            }
        };
        let Some(entry) = entry else {
            return Err(Refusal::NoHolder);
        };
        if entry.value != from.as_bytes() {
            return Err(Refusal::NotHolder {
                holder: String::from_utf8_lossy(&entry.value).into_owned(),
            });
        }
        if let Some(term) = term {
            self.highest = Some(self.highest.map_or(term, |h| h.max(term)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::lease::Lease;
    use crate::pool::lease::tests::{Flaky, TTL};
    use std::sync::atomic::Ordering;
    use std::time::Instant;

    const KEY: &str = "pool.bot.coordinator";

    #[tokio::test]
    async fn only_the_lease_holder_is_obeyed_and_old_terms_stay_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Flaky::new(dir.path());
        let mut guard = AcceptGuard::new(KEY.into(), TTL);
        assert_eq!(
            guard.check(&*kv, "a", Some(1)).await,
            Err(Refusal::NoHolder)
        );

        let mut a = Lease::new(KEY.into(), "a".into(), TTL);
        a.renew(&*kv).await;
        let a_term = a.held(Instant::now()).expect("a coordinates");
        guard
            .check(&*kv, "a", Some(a_term))
            .await
            .expect("a obeyed");
        guard
            .check(&*kv, "a", None)
            .await
            .expect("an older a, no term");

        // a is cut off from the store; its lease lapses and b takes it.
        kv.down.store(true, Ordering::SeqCst);
        a.renew(&*kv).await;
        tokio::time::sleep(TTL).await;
        kv.down.store(false, Ordering::SeqCst);
        let mut b = Lease::new(KEY.into(), "b".into(), TTL);
        b.renew(&*kv).await;
        let b_term = b.held(Instant::now()).expect("b coordinates");

        let stale = guard.check(&*kv, "a", Some(a_term)).await;
        assert_eq!(stale, Err(Refusal::NotHolder { holder: "b".into() }));
        guard
            .check(&*kv, "b", Some(b_term))
            .await
            .expect("b obeyed");

        // Even where the store cannot tell (a took the lease back after b left), a's old
        // term stays below b's.
        b.release(&*kv).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut a2 = Lease::new(KEY.into(), "a".into(), TTL);
        a2.renew(&*kv).await;
        let refused = guard.check(&*kv, "a", Some(a_term)).await;
        assert_eq!(
            refused,
            Err(Refusal::Superseded {
                term: a_term,
                highest: b_term
            })
        );
        let a2_term = a2.held(Instant::now()).expect("a again");
        guard
            .check(&*kv, "a", Some(a2_term))
            .await
            .expect("a's new term");
    }

    #[tokio::test]
    async fn an_unreadable_lease_obeys_nobody() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Flaky::new(dir.path());
        let mut a = Lease::new(KEY.into(), "a".into(), TTL);
        a.renew(&*kv).await;
        kv.down.store(true, Ordering::SeqCst);
        let mut guard = AcceptGuard::new(KEY.into(), TTL);
        let refused = guard.check(&*kv, "a", a.held(Instant::now())).await;
        assert!(
            matches!(refused, Err(Refusal::Unverified(_))),
            "{refused:?}"
        );
        assert_eq!(refused.unwrap_err().label(), "unverified");
    }
}
