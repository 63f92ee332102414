//! The close codes of Discord's gateway (opcodes-and-status-codes.mdx), with the reason the
//! Switchyard's servers (the fake Discord and the face) send with each.

/// A close code and its reason, for bad client input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct CloseReason {
    /// The WebSocket close code.
    pub code: u16,
    /// The human-readable reason sent with it.
    pub reason: &'static str,
}

impl CloseReason {
    /// 4000 unknown error.
    pub const UNKNOWN_ERROR: Self = Self {
        code: 4000,
        reason: "Unknown error.",
    };
    /// 4001 unknown opcode or bad payload for an opcode.
    pub const UNKNOWN_OPCODE: Self = Self {
        code: 4001,
        reason: "Unknown opcode.",
    };
    /// 4001 for a payload that does not fit its opcode.
    pub const BAD_PAYLOAD: Self = Self {
        code: 4001,
        reason: "Invalid payload for opcode.",
    };
    /// 4002 decode error.
    pub const DECODE: Self = Self {
        code: 4002,
        reason: "Error while decoding payload.",
    };
    /// 4002 for `encoding=etf`, which Switchyard's servers do not speak.
    pub const ETF: Self = Self {
        code: 4002,
        reason: "ETF encoding is not served: connect with encoding=json.",
    };
    /// 4003 not authenticated.
    pub const NOT_AUTHENTICATED: Self = Self {
        code: 4003,
        reason: "Not authenticated.",
    };
    /// 4004 authentication failed.
    pub const AUTH_FAILED: Self = Self {
        code: 4004,
        reason: "Authentication failed.",
    };
    /// 4005 already authenticated.
    pub const ALREADY_AUTHENTICATED: Self = Self {
        code: 4005,
        reason: "Already authenticated.",
    };
    /// 4007 invalid seq.
    pub const INVALID_SEQ: Self = Self {
        code: 4007,
        reason: "Invalid seq.",
    };
    /// 4008 rate limited.
    pub const RATE_LIMITED: Self = Self {
        code: 4008,
        reason: "Rate limited.",
    };
    /// 4009 session timed out.
    pub const SESSION_TIMEOUT: Self = Self {
        code: 4009,
        reason: "Session timed out.",
    };
    /// 4010 invalid shard.
    pub const INVALID_SHARD: Self = Self {
        code: 4010,
        reason: "Invalid shard.",
    };
    /// 4011 sharding required.
    pub const SHARDING_REQUIRED: Self = Self {
        code: 4011,
        reason: "Sharding required.",
    };
    /// 4012 invalid API version.
    pub const INVALID_VERSION: Self = Self {
        code: 4012,
        reason: "Invalid API version.",
    };
    /// 4013 invalid intents.
    pub const INVALID_INTENTS: Self = Self {
        code: 4013,
        reason: "Invalid intent(s).",
    };
    /// 4014 disallowed intents.
    pub const DISALLOWED_INTENTS: Self = Self {
        code: 4014,
        reason: "Disallowed intent(s).",
    };
}
