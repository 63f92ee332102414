//! A Discord REST client that never earns a 429, and the HTTP REST proxy built on it.
//!
//! # Using it from Rust (the gateway's outbound path)
//!
//! ```no_run
//! # async fn demo() -> Result<(), switchyard_rest::RestError> {
//! use switchyard_rest::{HttpRequest, RestClient, RestConfig};
//! use http::Method;
//! let client = RestClient::new(RestConfig::default()).await?;
//! let req = HttpRequest::new(Method::POST, "/channels/123/messages", Some("token"))
//!     .json(&serde_json::json!({"content": "hi"}));
//! let res = client.send(req).await?;
//! let (status, queued) = (res.status, res.queued);
//! println!("{status} after {queued:?} queued: {:?}", res.bytes().await?);
//! # Ok(()) }
//! ```
//!
//! One [`RestClient`] (one [`Limiter`]) per process serves every token: the Authorization
//! header selects the token's limiter. The proxy ([`serve_proxy`]) is the same client behind
//! an HTTP server, so the gateway and the proxy never need two limiters.
//!
//! # Rules
//!
//! - Buckets are learned from `X-RateLimit-Bucket` per route key and kept per major parameter
//!   (channel, guild, webhook + token); reaction routes share one bucket per channel; deleting a
//!   message older than 14 days has its own ([`RouteInfo`]).
//! - The first request to a route whose bucket is unknown goes alone; the others wait for its
//!   headers. Each (token, route, major) has a FIFO queue held until the response headers
//!   arrive, so requests of a bucket leave in order.
//! - A bucket and the global limit allow at most `limit` requests in any interval of
//!   `window + margin`; `remaining: 0` and 429s (user, shared or global scope) block
//!   until their reset. Interaction callbacks skip the global limit; requests without a token
//!   fall under a per-IP global limit.
//! - Upstream 429s are counted and retried (at most `max_retries`, when the body is small
//!   enough to replay). Waits beyond `max_wait`, or any wait in fail-fast mode, end in
//!   [`RestError::RateLimited`], which the proxy answers as a synthetic 429 shaped like
//!   Discord's.
//! - The first 401 locks the token; 401/403/429 responses are counted against Discord's
//!   invalid-request budget.
//! - With Redis configured, bucket logs, learned buckets, probes and global limits live in
//!   Redis behind two atomic Lua scripts, so every node together stays inside the limits.
//! - Tokens are never logged nor stored: scopes are the bot id read from the token, or a hash.
//!
//! # Why not twilight-http-ratelimiting
//!
//! twilight-http-ratelimiting 0.18 was evaluated: its limiter is an in-process actor with its
//! state in private maps, so it cannot share buckets or the global limit across processes
//! through Redis, which the cluster-wide mode needs; its global limit is one number per
//! limiter (not per bot within one limiter), it exempts every `webhooks/…` path from the global
//! limit (Discord exempts only interaction endpoints), it has no per-IP limit for tokenless
//! requests, no fail-fast or maximum wait, and it panics when its actor dies. So the bucket
//! logic here is our own, one set of rules implemented twice (in Rust for the local store, in
//! Lua for Redis) and tested against the fake Discord.

mod body;
mod budget;
mod client;
mod config;
mod error;
mod headers;
mod limiter;
mod load;
mod proxy;
mod ratelimit_route;
mod route_metrics;
mod store;
mod upstream;

pub use body::BodyStream;
pub use client::{HttpRequest, HttpResponse, RestBody, RestClient};
pub use config::{InvalidRestConfig, Rate, RestConfig, WaitMode};
pub use error::RestError;
pub use limiter::{Limiter, LimiterStats};
pub use load::BucketLoad;
pub use proxy::{SECRET_HEADER, forward as forward_request, serve as serve_proxy};
pub use ratelimit_route::{RouteInfo, is_id, redact_token};
