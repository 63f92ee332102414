//! The fake's REST side as the state keeps it: the limiter, the log of calls and the counters.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::limiter::Limiter;
use super::lock;
use crate::config::RateLimits;

/// One recorded REST call (headers, and so tokens, are never recorded).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestCall {
    /// HTTP method.
    pub method: String,
    /// Path as requested, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Body as text (lossy UTF-8).
    pub body: String,
    /// Response status.
    pub status: u16,
    /// The bot's user id, when the call was authenticated.
    pub bot_id: Option<String>,
}

/// REST counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestCounts {
    /// Requests handled.
    pub requests: u64,
    /// 429s on route buckets.
    pub rate_limited_route: u64,
    /// 429s from the global limit.
    pub rate_limited_global: u64,
    /// Invalid requests in Discord's sense: status 401, 403 or 429.
    pub invalid_requests: u64,
}

/// REST state: limits, log and counters.
#[derive(Debug)]
pub struct RestState {
    /// The configured limits.
    pub limits: RateLimits,
    /// The limiter.
    pub limiter: Limiter,
    /// The call log.
    pub log: Mutex<VecDeque<RestCall>>,
    /// The counters.
    pub counts: Mutex<RestCounts>,
}

impl RestState {
    /// State for the configured limits.
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            limits: limits.clone(),
            limiter: Limiter::default(),
            log: Mutex::default(),
            counts: Mutex::default(),
        }
    }

    /// Forgets limits, log and counters.
    pub fn reset(&self) {
        self.limiter.reset();
        lock(&self.log).clear();
        *lock(&self.counts) = RestCounts::default();
    }
}
