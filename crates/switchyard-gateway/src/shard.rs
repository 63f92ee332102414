//! The shard runner: polls one twilight shard without pause, routes each raw frame, and hands
//! what is published to a bounded queue drained by the shard's publisher task.
//!
//! twilight only heartbeats while the shard is polled, so the runner never waits for the
//! broker: when the queue is full, frames go to an overflow list and polling goes on. If the
//! queue stays full for `full_bound`, the runner closes the shard with a resumable code and
//! stops polling until the queue drains; then twilight RESUMEs and Discord replays the
//! backlog it held meanwhile.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use switchyard_core::Topic;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use twilight_gateway::{CloseFrame, ConfigBuilder, Message, Session, Shard, ShardId, ShardState};

use crate::close::{CloseAction, classify, meaning};
use crate::config::GatewayConfig;
use crate::queue::IdentifyQueue;
use crate::route::{Routed, Router, Scratch};
use crate::session::SavedSession;
use crate::status::{ShardPhase, ShardStatus};

/// The topic gaps are reported on.
pub const GAP_TOPIC: &str = "control.gateway.gap";

/// One item between a shard and its publisher.
#[derive(Debug)]
pub(crate) struct Item {
    /// What to publish; `None` only advances the handed-over sequence.
    pub publish: Option<(Topic, Bytes)>,
    /// The session and sequence this item completes.
    pub session: Arc<str>,
    /// The sequence, for dispatches.
    pub seq: Option<u64>,
}

/// Counts shards that became ready, for "shards ready 3/4".
#[derive(Debug)]
pub(crate) struct Progress {
    pub ready: AtomicU32,
    pub total: AtomicU32,
}

/// Everything one shard runner needs.
pub(crate) struct ShardTask {
    pub id: u32,
    pub total: u32,
    pub config: Arc<GatewayConfig>,
    pub router: Arc<Router>,
    pub queue: IdentifyQueue,
    pub gateway_url: String,
    pub saved: Option<SavedSession>,
    pub status: Arc<ShardStatus>,
    pub progress: Arc<Progress>,
    pub stop: watch::Receiver<bool>,
    pub tx: mpsc::Sender<Item>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Runner {
    id: u32,
    total: u32,
    shard_label: String,
    router: Arc<Router>,
    status: Arc<ShardStatus>,
    progress: Arc<Progress>,
    config: Arc<GatewayConfig>,
    tx: mpsc::Sender<Item>,
    overflow: VecDeque<Item>,
    full_since: Option<Instant>,
    session: Arc<str>,
    last: Option<(Arc<str>, u64)>,
    own_user: Option<u64>,
    ended_because: Option<String>,
    counters: HashMap<String, metrics::Counter>,
    scratch: Scratch,
}

/// Runs a shard until it stops (fatal close, or `stop`); returns the fatal error, if any.
pub(crate) async fn run(task: ShardTask) -> Result<(), String> {
    let ShardTask {
        id,
        total,
        config,
        router,
        queue,
        gateway_url,
        saved,
        status,
        progress,
        mut stop,
        tx,
    } = task;
    let make = {
        let config = config.clone();
        move |resume: Option<(Session, String)>| {
            let mut builder = ConfigBuilder::new(config.token.expose().to_owned(), config.intents)
                .proxy_url(gateway_url.trim_end_matches('/').to_owned())
                .large_threshold(config.large_threshold.clamp(50, 250))
                .queue(queue.clone());
            if let Some((session, url)) = resume {
                builder = builder.session(session).resume_url(url);
            }
            Shard::with_config(ShardId::new(id, total), builder.build())
        }
    };
    let mut runner = Runner {
        id,
        total,
        shard_label: id.to_string(),
        router,
        status: status.clone(),
        progress,
        config: config.clone(),
        tx,
        overflow: VecDeque::new(),
        full_since: None,
        session: Arc::from(""),
        last: None,
        own_user: None,
        ended_because: None,
        counters: HashMap::new(),
        scratch: Scratch::default(),
    };
    let mut resume = None;
    if let Some(saved) = saved {
        tracing::info!(shard = id, session = %saved.session_id, seq = saved.seq, "resuming the saved session");
        resume = Some((
            Session::new(saved.seq, saved.session_id.clone()),
            saved.resume_url.clone(),
        ));
        let session: Arc<str> = Arc::from(saved.session_id.as_str());
        runner.session = session.clone();
        runner.last = Some((session.clone(), saved.seq));
        status.set_session(Some(session), Some(saved.resume_url));
        runner.ended_because = Some("the saved session could not be resumed".into());
    }
    let mut shard = make(resume);
    let bound = config.full_bound;
    // While paused (closed because the queue stayed full), the session to resume.
    let mut paused: Option<Option<(Session, String)>> = None;
    let tx = runner.tx.clone();
    let mut stop_now = false;
    let mut pause_now = false;
    let mut renew = false;
    loop {
        if paused.is_some() {
            tokio::select! {
                stopping = stop.wait_for(|s| *s) => {
                    drop(stopping);
                    stop_now = true;
                }
                permit = tx.reserve(), if !runner.overflow.is_empty() => {
                    let Ok(permit) = permit else { break };
                    if let Some(item) = runner.overflow.pop_front() {
                        permit.send(item);
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(5)), if runner.overflow.is_empty() => {
                    if tx.capacity() == tx.max_capacity() {
                        runner.full_since = None;
                        status.set_phase(ShardPhase::Disconnected);
                        tracing::info!(shard = id, "the publish queue drained; resuming the shard");
                        shard = make(paused.take().flatten());
                    }
                }
            }
            if stop_now {
                runner.flush().await;
                status.set_phase(ShardPhase::Stopped);
                return Ok(());
            }
            continue;
        }
        if stop_now {
            close_resumably(&mut shard, &mut runner).await;
            runner.flush().await;
            status.set_phase(ShardPhase::Stopped);
            return Ok(());
        }
        if renew {
            renew = false;
            shard = make(None);
            continue;
        }
        if pause_now {
            pause_now = false;
            let resume = close_resumably(&mut shard, &mut runner).await;
            status.set_phase(ShardPhase::Paused);
            paused = Some(resume);
            continue;
        }
        let deadline = runner.full_since.map_or_else(Instant::now, |t| t + bound);
        tokio::select! {
            stopping = stop.wait_for(|s| *s) => {
                drop(stopping);
                stop_now = true;
            }
            permit = tx.reserve(), if !runner.overflow.is_empty() => {
                let Ok(permit) = permit else { break };
                if let Some(item) = runner.overflow.pop_front() {
                    permit.send(item);
                }
                if runner.overflow.is_empty() {
                    runner.full_since = None;
                }
            }
            _ = tokio::time::sleep_until(deadline), if runner.full_since.is_some() => {
                tracing::warn!(shard = id, bound_ms = bound.as_millis() as u64, backlog = runner.overflow.len(),
                    "the publish queue stayed full; closing the shard resumably until it drains (Discord holds the backlog)");
                metrics::counter!("switchyard_gateway_backpressure_closes_total", "shard" => runner.shard_label.clone()).increment(1);
                pause_now = true;
            }
            msg = shard.next() => {
                match msg {
                    None => break,
                    Some(Ok(Message::Text(text))) => runner.frame(&shard, &text),
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.as_ref().map(|f| f.code);
                        // twilight would RESUME after any close Discord sends; 4007 and
                        // 4009 need a new session, so the shard is rebuilt without one.
                        renew = runner.closed(code) == Some(CloseAction::NewSession)
                            && matches!(code, Some(4007 | 4009));
                    }
                    Some(Err(e)) => {
                        metrics::counter!("switchyard_gateway_receive_errors_total", "shard" => runner.shard_label.clone()).increment(1);
                        tracing::warn!(shard = id, error = %e, "shard receive error; twilight reconnects");
                    }
                }
                if status.phase() != ShardPhase::Fatal {
                    status.set_phase(match shard.state() {
                        ShardState::Active => ShardPhase::Active,
                        ShardState::Identifying => ShardPhase::Identifying,
                        ShardState::Resuming => ShardPhase::Resuming,
                        ShardState::FatallyClosed => ShardPhase::Fatal,
                        ShardState::Disconnected { .. } => ShardPhase::Disconnected,
                    });
                }
                status.set_latency(shard.latency().average());
            }
        }
    }
    runner.flush().await;
    if status.phase() == ShardPhase::Fatal {
        let error = status
            .snapshot()
            .error
            .unwrap_or_else(|| format!("shard {id} closed fatally"));
        return Err(error);
    }
    status.set_phase(ShardPhase::Stopped);
    Ok(())
}

/// Closes with a resumable code: sends the close frame (polling briefly, frames that still
/// arrive are handled), then drops the connection. Returns the session to resume, if any.
/// twilight reconnects by itself after a close it initiated, so the shard is dropped rather
/// than polled further; a new one resumes from the returned session.
async fn close_resumably(
    shard: &mut Shard<IdentifyQueue>,
    runner: &mut Runner,
) -> Option<(Session, String)> {
    let resume = shard
        .session()
        .cloned()
        .zip(shard.resume_url().map(str::to_owned));
    shard.close(CloseFrame::RESUME);
    let _ = tokio::time::timeout(Duration::from_millis(100), async {
        while let Some(msg) = shard.next().await {
            match msg {
                Ok(Message::Text(text)) => runner.frame(shard, &text),
                Ok(Message::Close(_)) | Err(_) => break,
            }
            if !matches!(shard.state(), ShardState::Disconnected { .. }) {
                break;
            }
        }
    })
    .await;
    // Frames handled during the close may have advanced the session.
    shard
        .session()
        .cloned()
        .zip(shard.resume_url().map(str::to_owned))
        .or(resume)
}

impl Runner {
    async fn flush(&mut self) {
        while let Some(item) = self.overflow.pop_front() {
            if self.tx.send(item).await.is_err() {
                break;
            }
        }
    }

    fn push(&mut self, item: Item) {
        if !self.overflow.is_empty() {
            self.overflow.push_back(item);
            return;
        }
        match self.tx.try_send(item) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(item)) => {
                self.overflow.push_back(item);
                self.full_since.get_or_insert_with(Instant::now);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        self.status
            .set_queue_depth(self.tx.max_capacity() - self.tx.capacity() + self.overflow.len());
    }

    fn closed(&mut self, code: Option<u16>) -> Option<CloseAction> {
        let Some(code) = code else {
            tracing::info!(shard = self.id, "gateway closed without a code; resuming");
            return None;
        };
        self.status.set_last_close(code);
        metrics::counter!("switchyard_gateway_closes_total", "shard" => self.shard_label.clone(), "code" => code.to_string()).increment(1);
        let action = classify(code, self.config.intents, [self.id, self.total]);
        match action.clone() {
            CloseAction::Resume => {
                tracing::info!(
                    shard = self.id,
                    code,
                    meaning = meaning(code),
                    "connection closed; resuming"
                );
            }
            CloseAction::NewSession => {
                self.ended_because
                    .get_or_insert_with(|| format!("close {code} ({})", meaning(code)));
                tracing::warn!(
                    shard = self.id,
                    code,
                    meaning = meaning(code),
                    "connection closed; the session cannot be resumed, identifying a new one"
                );
            }
            CloseAction::Fatal(text) => {
                tracing::error!(shard = self.id, code, "{text}");
                self.status.set_error(Some(text));
                self.status.set_phase(ShardPhase::Fatal);
            }
        }
        Some(action)
    }

    fn frame(&mut self, shard: &Shard<IdentifyQueue>, text: &str) {
        if let Some(s) = shard.session()
            && &*self.session != s.id()
        {
            self.new_session(s.id(), shard.resume_url());
        }
        let received_ms = now_ms();
        let routed = self.router.route(
            text,
            self.id,
            &self.session,
            self.own_user,
            received_ms,
            &mut self.scratch,
        );
        let (dispatch, publish) = match routed {
            Ok(Routed::Control(9)) => {
                let resumable = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("d").and_then(serde_json::Value::as_bool))
                    .unwrap_or(false);
                if !resumable {
                    self.ended_because = Some("INVALID_SESSION (not resumable)".into());
                }
                tracing::info!(shard = self.id, resumable, "INVALID_SESSION received");
                return;
            }
            Ok(Routed::Control(_)) => return,
            Ok(Routed::Publish {
                dispatch,
                topic,
                payload,
            }) => (dispatch, Some((topic, payload))),
            Ok(Routed::Skipped(dispatch)) => {
                self.status.add_skipped();
                (dispatch, None)
            }
            Err(e) => {
                metrics::counter!("switchyard_gateway_unroutable_total", "shard" => self.shard_label.clone()).increment(1);
                tracing::warn!(shard = self.id, error = %e, "unroutable frame dropped");
                return;
            }
        };
        self.status.add_event();
        let event = dispatch.event.as_ref();
        match event {
            "READY" => {
                self.own_user = dispatch.ids.user;
                self.status.set_session(
                    Some(self.session.clone()),
                    shard.resume_url().map(str::to_owned),
                );
                self.ready("identified a new session");
            }
            "RESUMED" => self.ready("resumed the session"),
            _ => {}
        }
        match self.counters.get(event) {
            Some(c) => c.increment(1),
            None => {
                let c = metrics::counter!("switchyard_gateway_events_total", "shard" => self.shard_label.clone(), "event" => event.to_owned());
                c.increment(1);
                self.counters.insert(event.to_owned(), c);
            }
        }
        if let Some(seq) = dispatch.seq {
            self.status.set_seq(seq);
            self.last = Some((self.session.clone(), seq));
        }
        let item = Item {
            publish,
            session: self.session.clone(),
            seq: dispatch.seq,
        };
        self.push(item);
    }

    fn ready(&mut self, what: &str) {
        self.ended_because = None;
        tracing::info!(shard = self.id, session = %self.session, "{what}");
        if self.status.first_ready() {
            let n = self.progress.ready.fetch_add(1, Ordering::Relaxed) + 1;
            let total = self.progress.total.load(Ordering::Relaxed);
            tracing::info!("shards ready {n}/{total}");
        }
    }

    fn new_session(&mut self, id: &str, resume_url: Option<&str>) {
        let new: Arc<str> = Arc::from(id);
        if let Some((old, last_seq)) = self.last.take()
            && old != new
        {
            let reason = self
                .ended_because
                .take()
                .unwrap_or_else(|| "the session was invalidated".into());
            self.status.add_gap();
            metrics::counter!("switchyard_gateway_gaps_total", "shard" => self.shard_label.clone())
                .increment(1);
            tracing::warn!(shard = self.id, old_session = %old, last_seq, new_session = %new, %reason,
                "events after seq {last_seq} of the old session are lost (it could not be resumed)");
            let report = serde_json::json!({
                "bot": self.config.bot,
                "shard": self.id,
                "total": self.total,
                "old_session": &*old,
                "last_seq": last_seq,
                "lost_from": last_seq + 1,
                "new_session": &*new,
                "reason": reason,
                "at_ms": now_ms(),
            });
            if let Ok(topic) = Topic::new(GAP_TOPIC) {
                let payload = Bytes::from(report.to_string());
                self.push(Item {
                    publish: Some((topic, payload)),
                    session: new.clone(),
                    seq: None,
                });
            }
        }
        self.session = new;
        self.status
            .set_session(Some(self.session.clone()), resume_url.map(str::to_owned));
    }
}
