//! [`Hub`]: the face's sessions, found by id for a RESUME and offered every event of the bot;
//! forgets sessions that ended or whose client stayed away past the replay window.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use crate::event::FaceEvent;
use crate::session::Session;

#[derive(Debug, Default)]
pub(crate) struct Hub {
    sessions: RwLock<HashMap<String, Arc<Session>>>,
}

impl Hub {
    pub(crate) fn insert(&self, session: Arc<Session>) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.id.clone(), session);
        metrics::gauge!("switchyard_face_sessions").increment(1.0);
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// Offers an event to every session.
    pub(crate) fn offer(&self, event: &Arc<FaceEvent>) {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        for s in sessions.values() {
            s.offer(event);
        }
    }

    /// Every session.
    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        sessions.values().cloned().collect()
    }

    /// Forgets expired sessions; returns how many remain.
    pub(crate) fn sweep(&self, now: Instant) -> usize {
        let mut sessions = self
            .sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let before = sessions.len();
        sessions.retain(|_, s| !s.expired(now));
        let gone = before - sessions.len();
        if gone > 0 {
            metrics::gauge!("switchyard_face_sessions").decrement(gone as f64);
        }
        sessions.len()
    }

    /// Sessions with a connected client.
    pub(crate) fn connected(&self) -> usize {
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        sessions.values().filter(|s| s.connected()).count()
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}
