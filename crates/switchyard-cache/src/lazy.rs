//! [`Lazy`]: an index a guild builds on its first query that needs it, and that events keep
//! up from then on.
//!
//! Queries read the cache through a shared reference, so that many of them (and a snapshot)
//! can read at once; building an index on a query is the one write a read makes, and it
//! goes through this lock, held for the query's use of the index only. Events, which hold
//! the cache exclusively, reach the index without locking.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// An index built on demand (`None` until then).
#[derive(Debug)]
pub(crate) struct Lazy<T>(Mutex<Option<T>>);

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy(Mutex::new(None))
    }
}

impl<T> Lazy<T> {
    /// The index, for a query (locked while the guard lives).
    pub fn lock(&self) -> MutexGuard<'_, Option<T>> {
        // A query that panicked while holding it left an index at worst incomplete, which
        // searches tolerate (each candidate is checked against the member).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The index, for an event (the cache is held exclusively: no lock taken).
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.0
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
    }
}
