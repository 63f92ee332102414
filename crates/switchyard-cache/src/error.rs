//! Why an event could not be applied: the cache stays as it was, and the event is still
//! published unchanged.

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
}

impl CacheError {
    pub(crate) fn shape(event: &str) -> impl FnOnce(serde_json::Error) -> CacheError + '_ {
        move |source| CacheError::Shape {
            event: event.to_owned(),
            source,
        }
    }
}
