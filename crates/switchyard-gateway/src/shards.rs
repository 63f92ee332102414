//! The shards one gateway runs, changeable while it runs: each shard is a runner, a publisher
//! and a stop switch. Adding a shard loads its saved session (so it RESUMEs); removing one
//! closes it resumably, drains its queue into the broker and saves its session at once, so
//! that another process can take it over.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use switchyard_broker::Broker;
use switchyard_core::outbound::CommandTopics;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

use crate::command::holder::Holder;
use crate::config::GatewayConfig;
use crate::error::{GatewayError, ShardStopped};
use crate::queue::IdentifyQueue;
use crate::router::Router;
use crate::session::snapshot::{self, Snapshots};
use crate::session::{SessionStore, SessionStoreError, save_changed, session_key};
use crate::shard::{Progress, ShardTask, Start};
use crate::status::{ShardList, ShardStatus};

/// How long [`ShardSet::remove`] waits for shards to close before aborting them.
pub(crate) const STOP_GRACE: Duration = Duration::from_secs(5);

/// The grants of a pool's coordinator: each shard's epoch, and until when they hold
/// unrenewed.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub epochs: BTreeMap<u32, u64>,
    pub until: std::time::Instant,
}

/// What every shard of one bot shares.
pub(crate) struct ShardCtx {
    pub config: Arc<GatewayConfig>,
    pub router: Arc<Router>,
    pub queue: IdentifyQueue,
    pub gateway_url: String,
    pub total: u32,
    pub broker: Arc<dyn Broker>,
    pub sessions: Arc<dyn SessionStore>,
    /// The bot's command topics; each running shard's holder reads its own.
    pub commands: CommandTopics,
    pub progress: Arc<Progress>,
}

/// One running shard.
struct Running {
    status: Arc<ShardStatus>,
    stop: watch::Sender<bool>,
    runner: JoinHandle<()>,
    publisher: JoinHandle<()>,
    /// Reads the shard's command topic (none when the broker refused the subscription).
    holder: Option<JoinHandle<()>>,
    /// Set when the runner ended by itself: `Some(Err(cause))` for a fatal close.
    ended: Arc<Mutex<Option<Result<(), ShardStopped>>>>,
}

/// The shards of one gateway.
pub(crate) struct ShardSet {
    ctx: ShardCtx,
    running: tokio::sync::Mutex<BTreeMap<u32, Running>>,
    list: ShardList,
    ended: Arc<Notify>,
}

impl ShardSet {
    pub(crate) fn new(ctx: ShardCtx) -> Self {
        ShardSet {
            ctx,
            running: tokio::sync::Mutex::default(),
            list: ShardList::default(),
            ended: Arc::new(Notify::new()),
        }
    }

    pub(crate) fn ctx(&self) -> &ShardCtx {
        &self.ctx
    }

    /// The statuses, in shard order.
    pub(crate) fn list(&self) -> &ShardList {
        &self.list
    }

    /// The ids running now.
    pub(crate) async fn ids(&self) -> Vec<u32> {
        self.running.lock().await.keys().copied().collect()
    }

    /// Starts the shards in `ids` that are not running, each from its saved session.
    pub(crate) async fn add(&self, ids: &[u32]) -> Result<(), GatewayError> {
        self.add_granted(ids, None).await
    }

    /// [`ShardSet::add`], each shard fenced by its `grant` from a pool's coordinator (see
    /// [`crate::fence`]) before it publishes anything.
    pub(crate) async fn add_granted(
        &self,
        ids: &[u32],
        grant: Option<&Grant>,
    ) -> Result<(), GatewayError> {
        let mut running = self.running.lock().await;
        for &id in ids {
            if running.contains_key(&id) {
                continue;
            }
            if id >= self.ctx.total {
                return Err(GatewayError::NoSuchShard {
                    id,
                    total: self.ctx.total,
                });
            }
            let ctx = &self.ctx;
            let saved = match ctx
                .sessions
                .load(&session_key(&ctx.config.bot, id, ctx.total))
                .await
            {
                Ok(saved) => saved,
                // a session is only a resume hint: a torn one costs an IDENTIFY, not the start
                Err(e @ SessionStoreError::Corrupt { .. }) => {
                    metrics::counter!("switchyard_gateway_session_load_errors_total").increment(1);
                    tracing::warn!(error = %e, shard = id, "the saved session cannot be read; the shard identifies afresh");
                    None
                }
                Err(e) => return Err(e.into()),
            };
            let key = session_key(&ctx.config.bot, id, ctx.total);
            let cache = &ctx.config.cache;
            let restored = if cache.enabled {
                snapshot::load(&*ctx.sessions, &key, cache, id).await
            } else {
                None
            };
            let start = saved
                .as_ref()
                .map_or(Start::Identify { why: String::new() }, |saved| {
                    snapshot::start(saved, restored.as_ref(), cache.enabled)
                });
            let status = Arc::new(ShardStatus::new(id, ctx.total).with_cache(cache, restored));
            if let Some(saved) = &saved {
                status.set_stored(&saved.session_id);
            }
            if let Some(grant) = grant
                && let Some(&epoch) = grant.epochs.get(&id)
            {
                status.fence().renew(epoch, grant.until);
            }
            let (tx, rx) = mpsc::channel(ctx.config.queue_capacity.max(1));
            let publisher = tokio::spawn(crate::publish::run_publisher(
                rx,
                ctx.broker.clone(),
                status.clone(),
                Arc::from(ctx.config.bot.as_str()),
            ));
            let (stop, stop_rx) = watch::channel(false);
            let holder = Holder::new(
                ctx.broker.clone(),
                &ctx.commands,
                id,
                ctx.total,
                &ctx.config,
            );
            let (commands_tx, commands) = mpsc::channel(holder.capacity);
            let holder = match holder.subscribe().await {
                Ok(sub) => Some(tokio::spawn(holder.run(sub, commands_tx, stop_rx.clone()))),
                // Without it the shard runs, and commands for it are refused as unheld.
                Err(e) => {
                    metrics::counter!("switchyard_commands_unheld_shards_total").increment(1);
                    tracing::warn!(shard = id, error = %e,
                        "cannot read this shard's gateway commands; they are refused as no_holder (with a durable broker, add `command` to broker.durable_prefixes)");
                    None
                }
            };
            let task = ShardTask {
                id,
                total: ctx.total,
                config: ctx.config.clone(),
                router: ctx.router.clone(),
                queue: ctx.queue.clone(),
                gateway_url: ctx.gateway_url.clone(),
                saved,
                start,
                status: status.clone(),
                progress: ctx.progress.clone(),
                stop: stop_rx,
                tx,
                commands,
            };
            let ended = Arc::new(Mutex::new(None));
            let runner = {
                let (ended, notify) = (ended.clone(), self.ended.clone());
                tokio::spawn(async move {
                    let result = crate::shard::run(task).await;
                    *ended.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
                    notify.notify_waiters();
                })
            };
            ctx.progress.total.fetch_add(1, Ordering::Relaxed);
            running.insert(
                id,
                Running {
                    status,
                    stop,
                    runner,
                    publisher,
                    holder,
                    ended,
                },
            );
        }
        self.publish_list(&running);
        Ok(())
    }

    /// Stops the shards in `ids`: a resumable close, the queue drained into the broker, and
    /// the session saved now, so that another process can RESUME it. Bounded by
    /// [`STOP_GRACE`], as [`ShardSet::remove_within`] says.
    pub(crate) async fn remove(&self, ids: &[u32]) {
        self.remove_within(ids, STOP_GRACE).await;
    }

    /// [`ShardSet::remove`], waiting at most `grace` for the shards to close: a shard still
    /// closing then (its broker blocked, say) is aborted, and the session is saved at the
    /// last sequence the broker took, so that a RESUME elsewhere replays the rest. The save
    /// gets at most `grace` again.
    pub(crate) async fn remove_within(&self, ids: &[u32], grace: Duration) {
        let mut running = self.running.lock().await;
        let mut stopped = Vec::new();
        for id in ids {
            if let Some(shard) = running.remove(id) {
                shard.stop.send_replace(true);
                stopped.push(shard);
            }
        }
        self.publish_list(&running);
        drop(running);
        let deadline = tokio::time::Instant::now() + grace;
        let mut statuses = Vec::new();
        for mut shard in stopped {
            if let Some(holder) = &shard.holder {
                holder.abort();
            }
            let closed = tokio::time::timeout_at(deadline, async {
                let _ = (&mut shard.runner).await;
                let _ = (&mut shard.publisher).await;
            })
            .await;
            if closed.is_err() {
                shard.runner.abort();
                shard.publisher.abort();
                metrics::counter!("switchyard_gateway_shard_stop_aborts_total").increment(1);
                tracing::warn!(
                    shard = shard.status.id,
                    grace_ms = grace.as_millis() as u64,
                    handed_seq = shard.status.record().handed.map_or(0, |(_, seq)| seq),
                    "the shard did not close in time (is the broker blocked?); aborted it, and its session is saved at the last sequence the broker took"
                );
            }
            self.ctx.progress.total.fetch_sub(1, Ordering::Relaxed);
            if shard.status.has_been_ready() {
                self.ctx.progress.ready.fetch_sub(1, Ordering::Relaxed);
            }
            statuses.push(shard.status);
        }
        // The caches are snapshotted first, and saved once the sessions cover them.
        let mut snapshots = Snapshots::new(self.ctx.config.cache.snapshot_interval);
        snapshots.take_due(&statuses, true).await;
        // save_changed flushes the broker first: the sequences saved were delivered.
        let mut saved = vec![None; statuses.len()];
        let save = save_changed(
            &*self.ctx.sessions,
            &*self.ctx.broker,
            &self.ctx.config.bot,
            &statuses,
            &mut saved,
        );
        let ids: Vec<u32> = statuses.iter().map(|s| s.id).collect();
        match tokio::time::timeout(grace, save).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(
                shards = ?ids,
                error = %e,
                "the broker cannot confirm the stopped shards' last events; their sessions stay at the last periodic save, and a RESUME elsewhere replays from there"
            ),
            Err(_) => tracing::warn!(
                shards = ?ids,
                grace_ms = grace.as_millis() as u64,
                "saving the stopped shards' sessions timed out; a RESUME elsewhere starts from the last periodic save and replays more"
            ),
        }
        let covering = |id: u32| {
            let i = statuses.iter().position(|s| s.id == id)?;
            let session = saved.get(i)?.as_ref()?;
            Some((session.session_id.clone(), session.seq))
        };
        let bot = &self.ctx.config.bot;
        let snap = snapshots.save_covered(&*self.ctx.sessions, bot, &statuses, covering);
        if tokio::time::timeout(grace, snap).await.is_err() {
            tracing::warn!(
                grace_ms = grace.as_millis() as u64,
                "saving the stopped shards' cache snapshots timed out; their last periodic ones stay"
            );
        }
    }

    /// Renews the grants of the running shards in `grant`; returns the running shards whose
    /// grant had lapsed before (they may have run elsewhere meanwhile).
    pub(crate) async fn renew(&self, grant: &Grant) -> Vec<u32> {
        let running = self.running.lock().await;
        let mut lapsed = Vec::new();
        for (id, shard) in running.iter() {
            let fence = shard.status.fence();
            if fence.lapsed() {
                lapsed.push(*id);
            }
            if let Some(&epoch) = grant.epochs.get(id) {
                fence.renew(epoch, grant.until);
            }
        }
        lapsed
    }

    /// The running shards whose grant lapsed or was lost.
    pub(crate) async fn fenced(&self) -> Vec<u32> {
        let running = self.running.lock().await;
        running
            .iter()
            .filter(|(_, s)| s.status.fence().lapsed() || s.status.fence().is_lost())
            .map(|(id, _)| *id)
            .collect()
    }

    /// The guilds of each running shard, where its cache counts them.
    pub(crate) async fn guilds(&self) -> BTreeMap<u32, u32> {
        let running = self.running.lock().await;
        running
            .iter()
            .filter_map(|(id, s)| Some((*id, s.status.guild_count()?)))
            .collect()
    }

    /// Drops the shards in `ids` that went elsewhere: nothing more is received or saved for
    /// them here (their new owner RESUMEd from the saved sequence and publishes the rest).
    /// Each publisher is left to drain its queue: it drops what the new owner replays and
    /// publishes what only this node has (see [`crate::publish`]), then ends.
    pub(crate) async fn remove_lost(&self, ids: &[u32]) {
        let mut running = self.running.lock().await;
        for id in ids {
            if let Some(shard) = running.remove(id) {
                shard.status.fence().lose();
                shard.stop.send_replace(true);
                if let Some(holder) = &shard.holder {
                    holder.abort();
                }
                shard.runner.abort();
                self.ctx.progress.total.fetch_sub(1, Ordering::Relaxed);
                if shard.status.has_been_ready() {
                    self.ctx.progress.ready.fetch_sub(1, Ordering::Relaxed);
                }
                metrics::counter!("switchyard_gateway_pool_shards_lost_total").increment(1);
                tracing::warn!(
                    shard = id,
                    "this node lost the shard to another while it could not hear the pool; it drops what it held of the session the new owner resumes"
                );
            }
        }
        self.publish_list(&running);
    }

    /// Stops every shard as [`ShardSet::remove`] does.
    pub(crate) async fn remove_all(&self) {
        let ids = self.ids().await;
        self.remove(&ids).await;
    }

    /// Aborts every task at once, as a crash would.
    pub(crate) async fn abort(&self) {
        let mut running = self.running.lock().await;
        for (_, shard) in std::mem::take(&mut *running) {
            if let Some(holder) = &shard.holder {
                holder.abort();
            }
            shard.runner.abort();
            shard.publisher.abort();
        }
        self.publish_list(&running);
    }

    /// Resolves once shards are running and every one of them has stopped by itself (fatal
    /// closes); returns their errors.
    pub(crate) async fn stopped(&self) -> Vec<ShardStopped> {
        loop {
            let notified = self.ended.notified();
            {
                let running = self.running.lock().await;
                let results: Vec<Option<Result<(), ShardStopped>>> = running
                    .values()
                    .map(|s| {
                        s.ended
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone()
                    })
                    .collect();
                if !results.is_empty() && results.iter().all(Option::is_some) {
                    return results
                        .into_iter()
                        .flatten()
                        .filter_map(Result::err)
                        .collect();
                }
            }
            // A runner may end between the check and the wait: look again now and then.
            let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
        }
    }

    fn publish_list(&self, running: &BTreeMap<u32, Running>) {
        *self.list.write().unwrap_or_else(PoisonError::into_inner) =
            running.values().map(|s| s.status.clone()).collect();
    }
}
