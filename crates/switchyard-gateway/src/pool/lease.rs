//! The coordinator's lease: the key `pool.{bot}.coordinator` in the key-value store, holding
//! the coordinator's node id, taken and renewed by compare-and-set with the pool's lease as
//! its TTL.
//!
//! A node acts as coordinator only while the store has confirmed its lease within one TTL:
//! the lease cannot have lapsed under it before then, since the store's clock starts no
//! earlier than the renewal was sent. When the store stays unreachable for longer, the node
//! gives the role up (another node may have taken the lapsed key) but keeps its revision, so
//! that it can pick the role up again if the store comes back before the key lapsed.
//!
//! A node's *term* is the revision at which it took the key. Revisions only grow, so a later
//! coordinator always has a higher term; SHARD_ACCEPT carries it (see [`super::guard`]).

use std::time::{Duration, Instant};

use bytes::Bytes;
use switchyard_broker::kv::{KvError, KvStore};

/// This node's hold on the coordinator's lease.
#[derive(Debug)]
pub(crate) struct Lease {
    key: String,
    node: String,
    ttl: Duration,
    /// The revision of our last confirmed write, while the key may still be ours.
    rev: Option<u64>,
    /// The revision at which we took the key.
    term: Option<u64>,
    /// When the last renewal the store confirmed was sent.
    confirmed: Option<Instant>,
    /// Whether the role was given up for want of confirmation (logged once).
    gave_up: bool,
}

impl Lease {
    /// The lease `key`, held in the name of `node` for `ttl` at a time.
    pub(crate) fn new(key: String, node: String, ttl: Duration) -> Self {
        Lease {
            key,
            node,
            ttl,
            rev: None,
            term: None,
            confirmed: None,
            gave_up: false,
        }
    }

    /// How long one store call may take before it counts as failed: one beat, so that a
    /// hung store never stops this node's heartbeats for long.
    pub(crate) fn call_timeout(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(10))
    }

    /// The lease's key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Our term, while the store has confirmed the lease within one TTL of `now`.
    pub(crate) fn held(&self, now: Instant) -> Option<u64> {
        let confirmed = self.confirmed?;
        (now.saturating_duration_since(confirmed) < self.ttl)
            .then_some(self.term)
            .flatten()
    }

    /// Takes the lease if nobody holds it, or renews ours.
    pub(crate) async fn renew(&mut self, kv: &dyn KvStore) {
        let sent = Instant::now();
        let value = Bytes::from(self.node.clone());
        let call = kv.compare_and_set(&self.key, self.rev, value, Some(self.ttl));
        match tokio::time::timeout(self.call_timeout(), call).await {
            Ok(Ok(rev)) => {
                if self.rev.is_none() {
                    self.term = Some(rev);
                    tracing::info!(node = %self.node, term = rev, "took the coordinator's lease");
                } else if self.gave_up {
                    tracing::info!(node = %self.node, term = ?self.term,
                        "the key-value store confirmed the coordinator's lease again");
                }
                self.rev = Some(rev);
                self.confirmed = Some(sent);
                self.gave_up = false;
            }
            Ok(Err(KvError::Conflict { .. })) => {
                if self.rev.is_some() {
                    tracing::warn!(node = %self.node, "lost the coordinator's lease to another node");
                }
                self.forget();
            }
            Ok(Err(e)) => self.unconfirmed(&e.to_string()),
            Err(_) => self.unconfirmed(&format!(
                "no answer within {} ms",
                self.call_timeout().as_millis()
            )),
        }
    }

    /// A renewal the store did not confirm: give up the role once the lease may have lapsed.
    fn unconfirmed(&mut self, error: &str) {
        let Some(confirmed) = self.confirmed.filter(|_| self.rev.is_some()) else {
            tracing::warn!(node = %self.node, error = %error, "cannot reach the key-value store for the pool lease");
            return;
        };
        let silent = confirmed.elapsed();
        if silent < self.ttl {
            tracing::warn!(node = %self.node, error = %error, unconfirmed_ms = silent.as_millis() as u64,
                "cannot renew the coordinator's lease; still coordinating until it may lapse");
        } else if !self.gave_up {
            self.gave_up = true;
            tracing::warn!(node = %self.node, error = %error, unconfirmed_ms = silent.as_millis() as u64,
                lease_ms = self.ttl.as_millis() as u64,
                "giving up the coordinator role: the key-value store has not confirmed the lease for longer than it lasts, so another node may hold it now");
        }
    }

    fn forget(&mut self) {
        self.rev = None;
        self.term = None;
        self.confirmed = None;
        self.gave_up = false;
    }

    /// Frees the lease if it is still ours, for the next coordinator to take at once.
    pub(crate) async fn release(&mut self, kv: &dyn KvStore) {
        let Some(rev) = self.rev else {
            return;
        };
        self.forget();
        // A compare-and-set, unlike a delete, never frees a lease another node took since: it
        // overwrites our own revision with a value that lapses at once.
        let call = kv.compare_and_set(
            &self.key,
            Some(rev),
            Bytes::new(),
            Some(Duration::from_millis(1)),
        );
        match tokio::time::timeout(self.call_timeout(), call).await {
            Ok(Ok(_) | Err(KvError::Conflict { .. })) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot release the coordinator's lease; it lapses by itself");
            }
            Err(_) => {
                tracing::warn!("releasing the coordinator's lease timed out; it lapses by itself");
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use switchyard_broker::kv::{FileKv, KvEntry};

    /// A file store that can be cut off, as a partitioned Redis would be.
    pub(crate) struct Flaky {
        pub inner: FileKv,
        pub down: AtomicBool,
    }

    impl Flaky {
        pub(crate) fn new(dir: &std::path::Path) -> Arc<Self> {
            Arc::new(Flaky {
                inner: FileKv::open(&dir.join("kv.json")).expect("file kv"),
                down: AtomicBool::new(false),
            })
        }

        fn check(&self) -> Result<(), KvError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(KvError::File {
                    path: "test".into(),
                    detail: "unreachable".into(),
                });
            }
            Ok(())
        }
    }

    #[async_trait::async_trait]
    impl KvStore for Flaky {
        fn backend(&self) -> &'static str {
            "file"
        }
        async fn get(&self, key: &str) -> Result<Option<KvEntry>, KvError> {
            self.check()?;
            self.inner.get(key).await
        }
        async fn put(
            &self,
            key: &str,
            value: Bytes,
            ttl: Option<Duration>,
        ) -> Result<u64, KvError> {
            self.check()?;
            self.inner.put(key, value, ttl).await
        }
        async fn compare_and_set(
            &self,
            key: &str,
            expected: Option<u64>,
            value: Bytes,
            ttl: Option<Duration>,
        ) -> Result<u64, KvError> {
            self.check()?;
            self.inner.compare_and_set(key, expected, value, ttl).await
        }
        async fn delete(&self, key: &str) -> Result<(), KvError> {
            self.check()?;
            self.inner.delete(key).await
        }
    }

    pub(crate) const TTL: Duration = Duration::from_millis(150);

    fn lease(node: &str) -> Lease {
        Lease::new("pool.bot.coordinator".into(), node.into(), TTL)
    }

    #[tokio::test]
    async fn an_unreachable_store_ends_the_role_once_the_lease_may_have_lapsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Flaky::new(dir.path());
        let mut a = lease("a");
        a.renew(&*kv).await;
        let term = a.held(Instant::now()).expect("a coordinates");

        kv.down.store(true, Ordering::SeqCst);
        a.renew(&*kv).await;
        assert_eq!(
            a.held(Instant::now()),
            Some(term),
            "one failed renewal within the lease keeps the role"
        );
        tokio::time::sleep(TTL).await;
        a.renew(&*kv).await;
        assert_eq!(a.held(Instant::now()), None, "gave the role up");

        // Meanwhile the lease lapsed and another node took it, with a higher term.
        kv.down.store(false, Ordering::SeqCst);
        let mut b = lease("b");
        b.renew(&*kv).await;
        let b_term = b.held(Instant::now()).expect("b coordinates");
        assert!(b_term > term);
        a.renew(&*kv).await;
        assert_eq!(a.held(Instant::now()), None, "a does not take it back");
        b.renew(&*kv).await;
        assert_eq!(b.held(Instant::now()), Some(b_term), "b keeps its term");
    }

    #[tokio::test]
    async fn the_role_comes_back_when_the_store_does_before_the_key_lapsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Flaky::new(dir.path());
        let mut a = Lease::new("pool.bot.coordinator".into(), "a".into(), TTL * 4);
        a.renew(&*kv).await;
        let term = a.held(Instant::now()).expect("a coordinates");
        kv.down.store(true, Ordering::SeqCst);
        a.renew(&*kv).await;
        kv.down.store(false, Ordering::SeqCst);
        a.renew(&*kv).await;
        assert_eq!(a.held(Instant::now()), Some(term), "same term");
    }

    #[tokio::test]
    async fn release_frees_only_our_own_lease() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv = Flaky::new(dir.path());
        let mut a = lease("a");
        a.renew(&*kv).await;
        a.release(&*kv).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut b = lease("b");
        b.renew(&*kv).await;
        assert!(b.held(Instant::now()).is_some(), "b takes it at once");

        // A stale holder releasing does not free b's lease.
        let mut stale = lease("a");
        stale.rev = Some(1);
        stale.release(&*kv).await;
        let entry = kv.get("pool.bot.coordinator").await.expect("get");
        assert_eq!(entry.map(|e| e.value), Some(Bytes::from("b")));
    }
}
