//! What the identify queue shares between the gateway processes of one bot through the
//! key-value store: each bucket's turn (`identify.{app}.{bucket}`, taken for one window) and
//! the session start budget (`identify.{app}.budget`: the identifies left and when they
//! reset), so that N processes together stay within one bot's limits.
//!
//! `{app}` is derived from the token (a hash, never the token), because Discord's limits
//! belong to the application, whatever name each process's configuration gives the bot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use switchyard_broker::kv::{KvError, KvStore};

/// The bot's identity in the store's keys: a hash of its token.
pub(super) fn app_key(token: &str) -> String {
    let token = token.strip_prefix("Bot ").unwrap_or(token);
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(token.as_bytes()))
}

/// The shared budget's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Budget {
    remaining: u32,
    resets_at_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What taking one identify from the shared budget gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// One identify was taken.
    Yes,
    /// None left; the budget resets after this long.
    Exhausted(Duration),
}

/// This process's view of the budget, used when the store has none yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seed {
    /// Identifies left in this period, as this process counts them.
    pub remaining: u32,
    /// Until the period resets.
    pub resets_in: Duration,
    /// Identifies per period.
    pub total: u32,
}

/// Discord's session start period.
const PERIOD: Duration = Duration::from_secs(86_400);

/// Takes one identify from the budget under `identify.{app}.budget`. When the key is missing
/// (the first process) it starts from `seed`; when its period has lapsed, from a full one.
pub(super) async fn take_budget(kv: &dyn KvStore, app: &str, seed: Seed) -> Result<Taken, KvError> {
    let key = format!("identify.{app}.budget");
    loop {
        let now = now_ms();
        let entry = kv.get(&key).await?;
        let full = Budget {
            remaining: seed.total,
            resets_at_ms: now + PERIOD.as_millis() as u64,
        };
        let (current, revision) = match &entry {
            Some(e) => match serde_json::from_slice::<Budget>(&e.value) {
                Ok(b) if b.resets_at_ms > now => (b, Some(e.revision)),
                // Lapsed (or unreadable): a new period.
                _ => (full, Some(e.revision)),
            },
            None => (
                Budget {
                    remaining: seed.remaining,
                    resets_at_ms: now + seed.resets_in.as_millis() as u64,
                },
                None,
            ),
        };
        if current.remaining == 0 {
            return Ok(Taken::Exhausted(Duration::from_millis(
                current.resets_at_ms.saturating_sub(now),
            )));
        }
        let next = Budget {
            remaining: current.remaining - 1,
            ..current
        };
        let value = Bytes::from(serde_json::to_vec(&next).unwrap_or_default());
        // Kept a period past its reset, so a lapsed budget is seen as lapsed.
        let ttl = Duration::from_millis(next.resets_at_ms.saturating_sub(now)) + PERIOD;
        match kv.compare_and_set(&key, revision, value, Some(ttl)).await {
            Ok(_) => return Ok(Taken::Yes),
            // Another process took one meanwhile; read again.
            Err(KvError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Waits until this process holds the bucket's shared key. The turn is held for two
/// windows, or until [`identified`] shortens it to one window from the READY: Discord counts
/// its window from the IDENTIFY it receives, which may reach it later than the turn was
/// taken (this process slower to send than the next one), and READY comes after it.
pub(super) async fn take_turn(kv: &dyn KvStore, app: &str, bucket: u32, window: Duration) {
    let key = format!("identify.{app}.{bucket}");
    let pause = (window / 4).clamp(Duration::from_millis(5), Duration::from_millis(250));
    loop {
        match kv
            .compare_and_set(&key, None, Bytes::from_static(b"taken"), Some(window * 2))
            .await
        {
            Ok(_) => return,
            Err(KvError::Conflict { .. }) => tokio::time::sleep(pause).await,
            Err(e) => {
                // Better one IDENTIFY too many (Discord answers INVALID_SESSION and the
                // shard retries) than shards stuck while the store is unreachable.
                tracing::warn!(error = %e, bucket, "the shared identify queue is unreachable; identifying on the local queue alone");
                return;
            }
        }
    }
}

/// The READY of an IDENTIFY sent on the bucket's turn came: the turn lasts one window from
/// now, which is after Discord received the IDENTIFY.
pub(super) async fn identified(kv: &dyn KvStore, app: &str, bucket: u32, window: Duration) {
    let key = format!("identify.{app}.{bucket}");
    if let Err(e) = kv
        .put(&key, Bytes::from_static(b"taken"), Some(window))
        .await
    {
        tracing::warn!(error = %e, bucket, "cannot shorten the shared identify turn; it lapses two windows after it was taken");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use switchyard_broker::kv::FileKv;

    #[tokio::test]
    async fn processes_share_one_budget() {
        let dir = tempfile::tempdir().expect("tempdir");
        let kv: Arc<dyn KvStore> = Arc::new(FileKv::open(&dir.path().join("kv.json")).expect("kv"));
        let seed = Seed {
            total: 10,
            remaining: 3,
            resets_in: Duration::from_secs(60),
        };
        let app = app_key("Bot a.b.c");
        assert_eq!(app, app_key("a.b.c"), "with or without the Bot prefix");
        assert!(!app.contains("a.b.c"), "the key does not show the token");
        // Two processes, each thinking it has 3 left: together they get 3.
        let mut taken = 0;
        for _ in 0..3 {
            for _process in 0..2 {
                if take_budget(&*kv, &app, seed).await.expect("kv") == Taken::Yes {
                    taken += 1;
                }
            }
        }
        assert_eq!(taken, 3);
        match take_budget(&*kv, &app, seed).await.expect("kv") {
            Taken::Exhausted(left) => assert!(left > Duration::from_secs(50), "{left:?}"),
            Taken::Yes => panic!("the budget is spent"),
        }
        // Another bot has its own budget.
        let other = app_key("other-token");
        assert_eq!(
            take_budget(&*kv, &other, seed).await.expect("kv"),
            Taken::Yes
        );
    }
}
