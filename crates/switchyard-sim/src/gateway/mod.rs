//! The gateway: WebSocket upgrade on any path, and the modules of the protocol.

pub mod compress;
pub mod conn;
pub mod frame;
pub mod identify;
pub mod intents;
pub mod ops;
pub mod session;

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

use crate::state::Shared;

/// Accepts a gateway connection. Messages up to 1 MiB are read so that the sim itself can
/// answer frames over 4096 bytes with close code 4002.
pub fn upgrade(shared: Arc<Shared>, ws: WebSocketUpgrade, query: Option<&str>) -> Response {
    let params = conn::parse_query(query);
    // A small read buffer: tungstenite zero-fills it on every poll, and client frames are
    // small (at most 4096 bytes are valid).
    ws.max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| conn::run(shared, socket, params))
}
