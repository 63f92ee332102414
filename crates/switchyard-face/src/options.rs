//! [`FaceOptions`]: how the face serves its clients. The binary fills it from `[face]`.

use std::time::Duration;

use crate::tokens::FaceTokens;

/// How the face serves its clients. `Default` gives Discord's own numbers where Discord has
/// one, and the face's defaults otherwise.
#[derive(Debug, Clone)]
pub struct FaceOptions {
    /// The tokens clients identify with (never the bot's Discord token).
    pub tokens: FaceTokens,
    /// The URL clients reach the face's WebSocket at, as `/gateway` and READY's
    /// `resume_gateway_url` give it (`ws://host:port`).
    pub public_url: String,
    /// HELLO's heartbeat interval.
    pub heartbeat_interval: Duration,
    /// How many events each session keeps for a RESUME.
    pub replay_events: usize,
    /// How long a session whose client went away can still be resumed, and the oldest event
    /// its replay buffer keeps.
    pub replay_window: Duration,
    /// Frames queued for one client before it counts as too slow and is closed (it resumes
    /// from its replay buffer).
    pub client_queue: usize,
    /// How long one write to a client may take before the client counts as gone (its
    /// session stays, for a RESUME).
    pub write_timeout: Duration,
    /// The most guilds a virtual shard may hold before IDENTIFY is closed with 4011.
    pub max_guilds_per_shard: usize,
    /// IDENTIFYs a client may start per 5 s (`/gateway/bot`'s `max_concurrency`).
    pub max_concurrency: u32,
}

impl FaceOptions {
    /// Options with the given tokens and public URL, and the defaults for the rest.
    pub fn new(tokens: FaceTokens, public_url: impl Into<String>) -> Self {
        FaceOptions {
            tokens,
            public_url: public_url.into(),
            heartbeat_interval: Duration::from_millis(41_250),
            replay_events: 10_000,
            replay_window: Duration::from_secs(120),
            client_queue: 4096,
            write_timeout: Duration::from_secs(10),
            max_guilds_per_shard: 2500,
            max_concurrency: 16,
        }
    }
}
