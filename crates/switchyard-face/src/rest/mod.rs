//! The REST API on the face's port: `/api/v{9,10}/gateway`, `/gateway/bot`, `/users/@me`,
//! `/oauth2/applications/@me` answered by the face, everything else forwarded through
//! Switchyard's REST rate limiter, re-signed with the bot's real token.

use std::sync::Arc;

use crate::options::FaceOptions;
use crate::source::StateSource;

/// Where REST calls made with a face token go: Switchyard's rate-limited client, with the
/// bot's real token (which its `Debug` never shows).
#[derive(Clone)]
pub struct RestUpstream {
    /// The client (one limiter per process).
    pub client: switchyard_rest::RestClient,
    /// The bot's Discord token.
    pub token: String,
}

impl std::fmt::Debug for RestUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestUpstream")
            .field("token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// What the REST routes need.
#[derive(Clone)]
pub(crate) struct RestState {
    pub(crate) options: Arc<FaceOptions>,
    pub(crate) source: Arc<dyn StateSource>,
    pub(crate) upstream: Option<Arc<RestUpstream>>,
}

/// The REST routes, to merge with the WebSocket's.
pub(crate) fn routes(state: RestState) -> axum::Router {
    let _ = state;
    axum::Router::new()
}
