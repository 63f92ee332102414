//! The shard runner: polls one twilight shard without pause, routes each raw frame, and hands
//! what is published to a bounded queue drained by the shard's publisher task.
//!
//! twilight only heartbeats while the shard is polled, so the runner never waits for the
//! broker: when the queue is full, frames go to an overflow list and polling goes on. If the
//! queue stays full for `full_bound`, or the overflow grows to the queue's capacity, the
//! runner closes the shard with a resumable code and stops polling until the queue drains;
//! then twilight RESUMEs and Discord replays the backlog it held meanwhile.
//!
//! Frames that have already arrived are handled in bursts (up to [`BURST`]) before the loop
//! looks at its other branches again. The per-frame work lives in [`runner`]. A new session
//! is identified only once the publisher settled everything queued before ([`gate`]).

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::StreamExt as _;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use twilight_gateway::error::ReceiveMessageError;
use twilight_gateway::{CloseFrame, ConfigBuilder, Message, Session, Shard, ShardId, ShardState};

mod gap;
mod gate;
mod members;
mod runner;

pub use gap::GAP_TOPIC;
pub(crate) use runner::Item;
pub(crate) use runner::Progress;
use runner::{After, Runner};

use crate::command::holder::Queued;
use crate::config::GatewayConfig;
use crate::error::ShardStopped;
use crate::queue::IdentifyQueue;
use crate::router::Router;
use crate::session::SavedSession;
pub(crate) use crate::session::snapshot::Start;
use crate::status::{ShardPhase, ShardStatus};
use gate::Gated;

/// The most frames handled in one go while more are already received.
const BURST: usize = 64;

/// Everything one shard runner needs.
pub(crate) struct ShardTask {
    pub id: u32,
    pub total: u32,
    pub config: Arc<GatewayConfig>,
    pub router: Arc<Router>,
    pub queue: IdentifyQueue,
    pub gateway_url: String,
    pub saved: Option<SavedSession>,
    /// Whether and from where the saved session is resumed.
    pub start: Start,
    pub status: Arc<ShardStatus>,
    pub progress: Arc<Progress>,
    pub stop: watch::Receiver<bool>,
    pub tx: mpsc::Sender<Item>,
    /// Gateway commands queued by the shard's holder.
    pub commands: mpsc::Receiver<Queued>,
}

/// Runs a shard until it stops (fatal close, or `stop`); returns the fatal error, if any.
pub(crate) async fn run(task: ShardTask) -> Result<(), ShardStopped> {
    let mut runner = Runner::new(&task);
    let ShardTask {
        id,
        total,
        config,
        queue,
        gateway_url,
        saved,
        start,
        status,
        mut stop,
        mut commands,
        ..
    } = task;
    let make = {
        let config = config.clone();
        let queue = Gated {
            queue,
            status: status.clone(),
        };
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
    let resume = saved.and_then(|saved| match start {
        Start::Resume { from } => {
            tracing::info!(shard = id, session = %saved.session_id, seq = from, published = saved.seq, "resuming the saved session");
            Some((Session::new(from, saved.session_id), saved.resume_url))
        }
        Start::Identify { why } => {
            tracing::warn!(shard = id, session = %saved.session_id, "{why}; identifying a new session");
            None
        }
    });
    let mut shard = make(resume);
    let bound = config.full_bound;
    let tx = runner.tx.clone();
    let mut mode = Mode::Polling;
    loop {
        mode = match mode {
            Mode::Polling => {
                let deadline = runner.full_since.map_or_else(Instant::now, |t| t + bound);
                let mut received = None;
                let mut next = Mode::Polling;
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => next = Mode::Stop { closed: false },
                    permit = tx.reserve(), if !runner.overflow.is_empty() => {
                        match permit {
                            Ok(permit) => runner.hand_over(permit),
                            Err(_) => next = Mode::Ended,
                        }
                    }
                    _ = tokio::time::sleep_until(deadline), if runner.full_since.is_some() => {
                        runner.pausing(&format!("the publish queue stayed full for {} ms", bound.as_millis()));
                        next = Mode::Pause;
                    }
                    queued = commands.recv(), if !commands.is_closed() && runner.may_command(&shard) => {
                        if let Some(queued) = queued {
                            runner.command(&shard, queued);
                        }
                    }
                    () = std::future::ready(()), if runner.requests_waiting() && runner.may_command(&shard) => {
                        if let Some(request) = runner.next_request() {
                            runner.command(&shard, request);
                        }
                    }
                    _ = tokio::time::sleep_until(runner.commands.budget_at()),
                        if (!commands.is_empty() || runner.requests_waiting()) && runner.out_of_budget(&shard) => {}
                    msg = shard.next() => received = Some(msg),
                }
                match received {
                    Some(msg) => runner.receive(&mut shard, msg).await,
                    None => next,
                }
            }
            Mode::Pause => {
                let resume = close_resumably(&mut shard, &mut runner).await;
                status.set_phase(ShardPhase::Paused);
                Mode::Paused(resume)
            }
            Mode::Paused(resume) => {
                let mut next = None;
                tokio::select! {
                    _ = stop.wait_for(|s| *s) => next = Some(Mode::Stop { closed: true }),
                    permit = tx.reserve(), if !runner.overflow.is_empty() => {
                        match permit {
                            Ok(permit) => runner.hand_over(permit),
                            Err(_) => next = Some(Mode::Ended),
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(5)), if runner.overflow.is_empty() => {
                        if tx.capacity() == tx.max_capacity() {
                            runner.full_since = None;
                            status.set_phase(ShardPhase::Disconnected);
                            tracing::info!(shard = id, "the publish queue drained; resuming the shard");
                            shard = make(resume.clone());
                            next = Some(Mode::Polling);
                        }
                    }
                }
                next.unwrap_or(Mode::Paused(resume))
            }
            Mode::Renew { then_pause } => {
                shard = make(None);
                if then_pause {
                    Mode::Pause
                } else {
                    Mode::Polling
                }
            }
            Mode::Stop { closed } => {
                if !closed {
                    close_resumably(&mut shard, &mut runner).await;
                }
                runner.refuse_queued(&mut commands, "the shard stopped here");
                runner.flush().await;
                status.set_phase(ShardPhase::Stopped);
                return Ok(());
            }
            Mode::Ended => break,
        };
    }
    runner.refuse_queued(&mut commands, "the shard's connection ended");
    runner.flush().await;
    if status.phase() == ShardPhase::Fatal {
        let snapshot = status.snapshot();
        return Err(ShardStopped {
            shard: id,
            close_code: snapshot.last_close,
            reason: snapshot
                .error
                .unwrap_or_else(|| format!("shard {id} closed fatally")),
        });
    }
    status.set_phase(ShardPhase::Stopped);
    Ok(())
}

/// What the runner does next: the one thing that steers its loop.
#[derive(Debug)]
enum Mode {
    /// Reading the shard (and sending queued commands).
    Polling,
    /// Close resumably, because the publish queue stayed full.
    Pause,
    /// Closed until the publish queue drains; then this session is resumed.
    Paused(Option<(Session, String)>),
    /// Rebuild the shard without a session (after 4007, 4009), and pause it at once if the
    /// publish queue is full too.
    Renew { then_pause: bool },
    /// Close resumably (unless `closed` already), hand everything to the publisher, stop.
    Stop { closed: bool },
    /// The shard's stream ended, or the publisher is gone.
    Ended,
}

impl Runner {
    /// Records the shard's phase as twilight's state says it, after every frame: the
    /// replayed events of a RESUME and its RESUMED often arrive in one burst, and a phase
    /// looked at once per burst would show the shard active again without ever resuming.
    fn note_phase(&self, shard: &Shard<Gated>) {
        if self.status.phase() == ShardPhase::Fatal {
            return;
        }
        self.status.set_phase(match shard.state() {
            ShardState::Active => ShardPhase::Active,
            ShardState::Identifying => ShardPhase::Identifying,
            ShardState::Resuming => ShardPhase::Resuming,
            ShardState::FatallyClosed => ShardPhase::Fatal,
            ShardState::Disconnected { .. } => ShardPhase::Disconnected,
        });
    }

    /// Handles what the shard yielded, and the frames already received after it (up to
    /// [`BURST`]); returns the next mode.
    async fn receive(
        &mut self,
        shard: &mut Shard<Gated>,
        msg: Option<Result<Message, ReceiveMessageError>>,
    ) -> Mode {
        let mut after = self.message(shard, msg);
        self.note_phase(shard);
        // Frames already received are handled before the other branches are looked at
        // again: that pass costs once per burst rather than per frame.
        let mut burst = 1;
        while after == After::Continue && burst < BURST && self.full_since.is_none() {
            let Some(msg) = ready_now(shard).await else {
                break;
            };
            after = self.message(shard, msg);
            self.note_phase(shard);
            burst += 1;
        }
        if after == After::End {
            return Mode::Ended;
        }
        self.status.set_latency(shard.latency().average());
        let full = self.overflow.len() >= self.overflow_cap;
        if full {
            self.pausing("the publish queue and its overflow are full");
        }
        match (after, full) {
            (After::Renew, then_pause) => Mode::Renew { then_pause },
            (_, true) => Mode::Pause,
            _ => Mode::Polling,
        }
    }
}

/// The shard's next message if it is ready now; `None` (with the task registered for the
/// next one) if not.
async fn ready_now(
    shard: &mut Shard<Gated>,
) -> Option<Option<Result<Message, ReceiveMessageError>>> {
    std::future::poll_fn(|cx| match shard.poll_next_unpin(cx) {
        Poll::Ready(msg) => Poll::Ready(Some(msg)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// Closes with a resumable code: sends the close frame (polling briefly, frames that still
/// arrive are handled), then drops the connection. Returns the session to resume, if any.
/// twilight reconnects by itself after a close it initiated, so the shard is dropped rather
/// than polled further; a new one resumes from the returned session.
async fn close_resumably(
    shard: &mut Shard<Gated>,
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
