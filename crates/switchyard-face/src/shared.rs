//! [`Shared`]: what every connection of the face shares (its options, sources, sessions,
//! command routing and limits), apart from the listener that hands connections over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use switchyard_core::gateway_proto::frame::ClientOp;
use tokio::sync::watch;

use crate::commands::Commands;
use crate::hub::Hub;
use crate::options::FaceOptions;
use crate::rest::SessionStarts;
use crate::session::{Limits, Session};
use crate::source::StateSource;

/// What the connections share.
pub(crate) struct Shared {
    pub(crate) options: Arc<FaceOptions>,
    pub(crate) source: Arc<dyn StateSource>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) commands: Arc<Commands>,
    pub(crate) limits: Limits,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The face's own session start limit, which IDENTIFYs count against.
    pub(crate) session_starts: SessionStarts,
    pub(crate) conn_ids: AtomicU64,
    pub(crate) session_ids: AtomicU64,
    /// Distinguishes this face's session ids from another's.
    pub(crate) instance: u64,
}

impl Shared {
    pub(crate) fn next_conn(&self) -> u64 {
        self.conn_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn new_session_id(&self) -> String {
        let n = self.session_ids.fetch_add(1, Ordering::Relaxed);
        let h =
            xxhash_rust::xxh3::xxh3_128(&[self.instance.to_le_bytes(), n.to_le_bytes()].concat());
        format!("{h:032x}")
    }

    /// A command of an identified client, in a task of its own (a member request may wait
    /// for the cache).
    pub(crate) fn command(&self, session: Arc<Session>, op: ClientOp) {
        let commands = self.commands.clone();
        tokio::spawn(async move {
            match op {
                ClientOp::Presence(d) => commands.presence(&session, d).await,
                ClientOp::VoiceState(v) => commands.voice(&session, v).await,
                ClientOp::RequestMembers(r) => commands.members(&session, r).await,
                other => tracing::debug!(?other, "face: a command it does not serve"),
            }
        });
    }
}
