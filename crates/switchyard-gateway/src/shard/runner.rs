//! The runner's per-frame work: routing each frame, counting it, handing it to the bounded
//! queue (or the overflow list while the queue is full), and noticing new sessions, closes
//! and gaps.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use switchyard_core::Topic;
use tokio::sync::mpsc;
use tokio::time::Instant;
use twilight_gateway::error::ReceiveMessageError;
use twilight_gateway::{Message, Shard};

use super::gate::Gated;
use crate::close::{CloseAction, classify, meaning};
use crate::command::now_ms;
use crate::command::pending::Commands;
use crate::config::GatewayConfig;
use crate::router::{Routed, Router, Scratch};

use super::members::MemberRequests;

mod commands;
use super::{ShardTask, Start};
use crate::cache_feed::SharedCache;
use crate::status::{ShardPhase, ShardStatus};

/// One item between a shard and its publisher.
#[derive(Debug)]
pub(crate) struct Item {
    /// What to publish; `None` only advances the handed-over sequence.
    pub publish: Option<(Topic, Bytes)>,
    /// The session and sequence this item completes.
    pub session: Arc<str>,
    /// The sequence, for dispatches.
    pub seq: Option<u64>,
    /// The envelope's id, when the router wrote one: a deduplicating broker gets it without
    /// a second hash.
    pub id: Option<[u8; 32]>,
    /// When the event it carries came from Discord (Unix ms); 0 for what the gateway made up
    /// (answers, reports, markers).
    pub received_ms: u64,
}

/// Counts shards that became ready, for "shards ready 3/4".
#[derive(Debug)]
pub(crate) struct Progress {
    pub ready: AtomicU32,
    pub total: AtomicU32,
}

/// What the runner's loop does after a message from the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum After {
    /// Go on reading.
    Continue,
    /// Rebuild the shard without a session (4007, 4009).
    Renew,
    /// The shard's stream ended.
    End,
}

/// One shard's runner state, kept across reconnects.
pub(super) struct Runner {
    pub(super) id: u32,
    pub(super) total: u32,
    pub(super) shard_label: String,
    pub(super) router: Arc<Router>,
    pub(super) status: Arc<ShardStatus>,
    pub(super) progress: Arc<Progress>,
    pub(super) config: Arc<GatewayConfig>,
    pub(super) tx: mpsc::Sender<Item>,
    pub(super) overflow: VecDeque<Item>,
    /// The overflow length at which the shard pauses at once, without waiting `full_bound`.
    pub(super) overflow_cap: usize,
    pub(super) full_since: Option<Instant>,
    pub(super) depth: metrics::Gauge,
    /// The session the shard is in (empty before the first), which every item carries to
    /// the publisher.
    pub(super) session: Arc<str>,
    /// The last sequence received in `session`: where a gap would start if it were lost.
    last_seq: Option<u64>,
    pub(super) ended_because: Option<String>,
    pub(super) counters: HashMap<String, metrics::Counter>,
    pub(super) scratch: Scratch,
    /// Gateway commands sent and the requests waiting for their answers.
    pub(super) commands: Commands,
    /// The shard's cache, when the bot keeps one (its status holds it, for queries).
    pub(super) cache: Option<SharedCache>,
    /// Large guilds whose members the cache asks for.
    pub(super) requests: MemberRequests,
    /// The session and last sequence already handed to the broker before a restart, when
    /// the shard resumed from an older sequence (its cache's snapshot): Discord replays
    /// those events again, for the cache, and they are not published twice.
    published_until: Option<(Arc<str>, u64)>,
}

impl Runner {
    /// The runner of `task`'s shard; with a saved session it starts in that session, so that
    /// a new one in its place reports the gap from its sequence on.
    pub(super) fn new(task: &ShardTask) -> Self {
        let config = task.config.clone();
        let id = task.id;
        // at zero from the start, so that dashboards show a line rather than no data
        metrics::counter!("switchyard_gateway_gaps_total", "shard" => id.to_string()).increment(0);
        let mut runner = Runner {
            id,
            total: task.total,
            shard_label: id.to_string(),
            router: task.router.clone(),
            status: task.status.clone(),
            progress: task.progress.clone(),
            tx: task.tx.clone(),
            overflow: VecDeque::new(),
            overflow_cap: config.queue_capacity.max(1),
            full_since: None,
            depth: metrics::gauge!("switchyard_gateway_queue_depth", "shard" => id.to_string()),
            session: Arc::from(""),
            last_seq: None,
            ended_because: None,
            counters: HashMap::new(),
            scratch: Scratch::default(),
            commands: Commands::new(id, config.command_max_age),
            cache: task.status.cache().cloned(),
            requests: MemberRequests::default(),
            published_until: None,
            config,
        };
        if let Some(saved) = &task.saved {
            runner.session = Arc::from(saved.session_id.as_str());
            runner.last_seq = Some(saved.seq);
            runner.ended_because = Some(match &task.start {
                Start::Resume { from } => {
                    if *from < saved.seq {
                        runner.published_until = Some((runner.session.clone(), saved.seq));
                    }
                    "the saved session could not be resumed".into()
                }
                Start::Identify { why } => why.clone(),
            });
            runner
                .status
                .set_session(Some(runner.session.clone()), Some(saved.resume_url.clone()));
        }
        runner
    }

    /// Whether the dispatch `seq` of the current session was published before a restart
    /// (Discord replays it for the cache, which resumed from an older sequence).
    fn published_before(&mut self, seq: Option<u64>) -> bool {
        let Some((session, until)) = &self.published_until else {
            return false;
        };
        if *session != self.session || seq.is_none_or(|seq| seq > *until) {
            self.published_until = None;
            return false;
        }
        true
    }

    pub(super) async fn flush(&mut self) {
        while let Some(item) = self.overflow.pop_front() {
            if self.tx.send(item).await.is_err() {
                break;
            }
        }
    }

    /// Hands the oldest item of the overflow list to the publisher through `permit`.
    pub(super) fn hand_over(&mut self, permit: mpsc::Permit<'_, Item>) {
        if let Some(item) = self.overflow.pop_front() {
            permit.send(item);
        }
        if self.overflow.is_empty() {
            self.full_since = None;
        }
    }

    pub(super) fn push(&mut self, item: Item) {
        if !self.overflow.is_empty() {
            self.overflow.push_back(item);
            self.status.backlog().pushed();
            return;
        }
        match self.tx.try_send(item) {
            Ok(()) => self.status.backlog().pushed(),
            Err(mpsc::error::TrySendError::Full(item)) => {
                self.overflow.push_back(item);
                self.status.backlog().pushed();
                self.full_since.get_or_insert_with(Instant::now);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
        if !self.overflow.is_empty() {
            // The publisher, which sets the depth otherwise, may be stuck in the broker.
            let depth = self.tx.max_capacity() - self.tx.capacity() + self.overflow.len();
            self.status.set_queue_depth(depth);
            self.depth.set(depth as f64);
        }
    }

    /// Logs and counts a close for backpressure, `why` saying which bound was reached.
    pub(super) fn pausing(&self, why: &str) {
        tracing::warn!(
            shard = self.id,
            backlog = self.overflow.len(),
            "{why}; closing the shard resumably until it drains (Discord holds the backlog)"
        );
        metrics::counter!("switchyard_gateway_backpressure_closes_total", "shard" => self.shard_label.clone()).increment(1);
    }

    /// Handles what the shard's stream yielded.
    pub(super) fn message(
        &mut self,
        shard: &Shard<Gated>,
        msg: Option<Result<Message, ReceiveMessageError>>,
    ) -> After {
        match msg {
            None => After::End,
            Some(Ok(Message::Text(text))) => {
                self.frame(shard, &text);
                After::Continue
            }
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| f.code);
                // twilight would RESUME after any close Discord sends; 4007 and 4009 need
                // a new session, so the shard is rebuilt without one.
                if self.closed(code, shard.session().is_some()) == Some(CloseAction::NewSession)
                    && matches!(code, Some(4007 | 4009))
                {
                    After::Renew
                } else {
                    After::Continue
                }
            }
            Some(Err(e)) => {
                metrics::counter!("switchyard_gateway_receive_errors_total", "shard" => self.shard_label.clone()).increment(1);
                tracing::warn!(shard = self.id, error = %e, "shard receive error; twilight reconnects");
                After::Continue
            }
        }
    }

    /// Logs and counts a close; `has_session` is whether twilight still holds a session to
    /// resume (it drops it when it closed with 1000 itself, after INVALID_SESSION(false)).
    pub(super) fn closed(&mut self, code: Option<u16>, has_session: bool) -> Option<CloseAction> {
        let Some(code) = code else {
            tracing::info!(shard = self.id, "gateway closed without a code; resuming");
            return None;
        };
        self.status.set_last_close(code);
        metrics::counter!("switchyard_gateway_closes_total", "shard" => self.shard_label.clone(), "code" => code.to_string()).increment(1);
        let action = classify(code, self.config.intents, [self.id, self.total]);
        match action.clone() {
            CloseAction::Resume if !has_session => {
                tracing::info!(
                    shard = self.id,
                    code,
                    "connection closed after the session was given up; identifying a new one"
                );
            }
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

    pub(super) fn frame(&mut self, shard: &Shard<Gated>, text: &str) {
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
            self.status.fence().epoch(),
            received_ms,
            &mut self.scratch,
            self.cache.as_deref(),
        );
        let (dispatch, mut publish, id) = match routed {
            Ok(Routed::Control(9)) => {
                // twilight has read the frame already: it keeps the session only when the
                // INVALID_SESSION says it is resumable.
                let resumable = shard.session().is_some();
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
                id,
            }) => (dispatch, Some((topic, payload)), id),
            Ok(Routed::Skipped(dispatch)) => {
                self.status.add_skipped();
                (dispatch, None, None)
            }
            Err(e) => {
                metrics::counter!("switchyard_gateway_unroutable_total", "shard" => self.shard_label.clone()).increment(1);
                tracing::warn!(shard = self.id, error = %e, "unroutable frame dropped");
                return;
            }
        };
        // An event that answers a gateway command goes to its requester.
        if (self.commands.waiting() || dispatch.event == "GUILD_MEMBERS_CHUNK")
            && let Some(reply) = self.commands.answer(&dispatch, self.router.own_user())
        {
            let to_requester = reply.topic.map(|topic| (topic, reply.payload));
            if reply.instead {
                publish = to_requester;
            } else {
                self.push(Item {
                    publish: to_requester,
                    session: self.session.clone(),
                    seq: None,
                    id: None,
                    received_ms: 0,
                });
            }
        }
        self.status.add_event();
        let event = dispatch.event.as_ref();
        match event {
            "READY" => {
                // twilight took the session from READY before yielding it: `new_session`
                // above has recorded it.
                shard.config().queue().queue.identified(self.id);
                self.router.learn_own_user(dispatch.ids.user);
                self.ready("identified a new session");
            }
            "RESUMED" => self.ready("resumed the session"),
            "GUILD_CREATE" => self.note_guild(dispatch.ids.guild),
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
            self.last_seq = Some(seq);
        }
        if self.published_before(dispatch.seq) {
            // Nothing for the publisher either: the sequence it hands over (and the session
            // saved) must not fall back below what was saved before the restart.
            metrics::counter!("switchyard_gateway_replays_not_republished_total", "shard" => self.shard_label.clone()).increment(1);
            self.scratch.extra.clear();
            return;
        }
        // What the cache made up (a rebuild's events and report) goes first: once the
        // broker took the dispatch's sequence, it took them too.
        if !self.scratch.extra.is_empty() {
            let mut extra = std::mem::take(&mut self.scratch.extra);
            for e in extra.drain(..) {
                self.push(Item {
                    publish: Some((e.topic, e.payload)),
                    session: self.session.clone(),
                    seq: None,
                    id: e.id,
                    received_ms,
                });
            }
            self.scratch.extra = extra;
        }
        let item = Item {
            publish,
            session: self.session.clone(),
            seq: dispatch.seq,
            id,
            received_ms,
        };
        self.push(item);
    }

    fn ready(&mut self, what: &str) {
        self.ended_because = None;
        tracing::info!(shard = self.id, session = %self.session, "{what}");
        if self.status.first_ready() {
            let n = self.progress.ready.fetch_add(1, Ordering::Relaxed) + 1;
            let total = self.progress.total.load(Ordering::Relaxed);
            // `switchyard run` reports the progress of all shards together (a line per
            // shard would flood the log of a large bot).
            tracing::debug!("shards ready {n}/{total}");
        }
    }

    fn new_session(&mut self, id: &str, resume_url: Option<&str>) {
        self.forget_requests();
        let new: Arc<str> = Arc::from(id);
        let old = std::mem::replace(&mut self.session, new.clone());
        let mut report = None;
        if let Some(last_seq) = self.last_seq.take() {
            let reason = self
                .ended_because
                .take()
                .unwrap_or_else(|| "the session was invalidated".into());
            self.status.add_gap();
            metrics::counter!("switchyard_gateway_gaps_total", "shard" => self.shard_label.clone())
                .increment(1);
            tracing::warn!(shard = self.id, old_session = %old, last_seq, new_session = %new, %reason,
                "events after seq {last_seq} of the old session are lost (it could not be resumed)");
            report = super::gap::report(super::gap::Gap {
                bot: &self.config.bot,
                shard: self.id,
                total: self.total,
                old_session: &old,
                last_seq,
                new_session: &new,
                reason: &reason,
            });
        }
        // Sequence 0 of the new session, behind everything of the old one: once the broker
        // has taken it (and the gap report it carries), the new session can be saved, so that
        // a node taking the shard over resumes it from the start instead of the old session,
        // and the events it replays are not lost with this node.
        self.push(Item {
            publish: report,
            session: new.clone(),
            seq: Some(0),
            id: None,
            received_ms: 0,
        });
        self.status
            .set_session(Some(self.session.clone()), resume_url.map(str::to_owned));
    }
}
