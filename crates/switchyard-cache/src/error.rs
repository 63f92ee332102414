//! Why an event could not be applied (the cache stays as it was, and the event is still
//! published unchanged), or a snapshot not restored.

/// An event the cache could not read.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The payload does not have the shape Discord documents for the event.
    #[error("{event}: unexpected payload: {source}")]
    Shape {
        /// The event name.
        event: String,
        /// What serde found wrong.
        source: serde_json::Error,
    },
    /// A snapshot that is not JSON of the snapshot's shape.
    #[error("the cache snapshot cannot be read: {0}")]
    Snapshot(#[source] serde_json::Error),
    /// A snapshot written by a newer Switchyard.
    #[error("the cache snapshot is of version {found}, newer than this Switchyard reads ({max})")]
    SnapshotVersion {
        /// The snapshot's version.
        found: u32,
        /// The newest this build reads.
        max: u32,
    },
}

impl CacheError {
    pub(crate) fn shape(event: &str) -> impl FnOnce(serde_json::Error) -> CacheError + '_ {
        move |source| CacheError::Shape {
            event: event.to_owned(),
            source,
        }
    }
}
