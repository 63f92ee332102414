//! The gateway: WebSocket upgrade on any path, and the modules of the protocol.

pub(crate) mod conn;
mod fanout;
mod identify;
mod ops;

pub(crate) use fanout::{dispatch, dispatch_rendered};

use std::sync::Arc;

use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;

use crate::state::Shared;

/// The largest client message the WebSocket layer reads whole. Client frames over 4096 bytes
/// are invalid, but anything up to this size is read so that the sim itself answers it with
/// close code 4002 as Discord does; only a larger one makes the WebSocket layer give up (the
/// connection then drops without a close code).
pub const MAX_READ_MESSAGE: usize = 16 << 20;

/// Accepts a gateway connection (messages up to [`MAX_READ_MESSAGE`] are read, so that
/// oversized frames get close code 4002).
pub fn upgrade(shared: Arc<Shared>, ws: WebSocketUpgrade, query: Option<&str>) -> Response {
    let params = switchyard_core::gateway_proto::query::parse_query(query);
    // A small read buffer: tungstenite zero-fills it on every poll, and client frames are
    // small (at most 4096 bytes are valid).
    ws.max_message_size(MAX_READ_MESSAGE)
        .max_frame_size(MAX_READ_MESSAGE)
        .read_buffer_size(8 * 1024)
        .on_upgrade(move |socket| conn::run(shared, socket, params))
}
