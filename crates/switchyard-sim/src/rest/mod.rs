//! The REST API: request recording, authentication, the global and per-route rate limits,
//! routing to the handlers, and the 429 responses.

pub mod error;
pub mod form;
pub mod guilds;
pub mod interactions;
pub mod messages;
pub mod ratelimit;
pub mod reactions;
pub mod route_table;
pub mod store;

pub use route_table::{Route, RouteKind, resolve};

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{Limit, RateLimits};
use crate::state::{Bot, Shared, lock};
use error::{ApiError, json_response};
use ratelimit::{BucketInfo, Limited, Limiter, reset_epoch};

/// Calls kept in the REST log (the oldest are dropped beyond this).
pub const LOG_CAP: usize = 100_000;

/// The most of a request body kept in the call log; the rest of a larger one (an upload) is
/// replaced by a note of its size.
pub const LOGGED_BODY: usize = 64 << 10;

fn logged_body(body: &[u8]) -> String {
    if body.len() <= LOGGED_BODY {
        return String::from_utf8_lossy(body).into_owned();
    }
    let head = String::from_utf8_lossy(&body[..LOGGED_BODY]);
    format!("{head}… ({} bytes in all)", body.len())
}

/// The largest request body the fake takes, as Discord's edge: 25 MiB (uploads included).
/// A larger one gets 413 with code 40005, "Request entity too large".
pub const MAX_REQUEST_BODY: usize = 25 << 20;

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
    limits: RateLimits,
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

/// A request to the REST API.
#[derive(Debug)]
pub struct ApiRequest {
    /// Method.
    pub method: Method,
    /// Full path.
    pub path: String,
    /// Path after the `/api[/vN]` prefix.
    pub rest: String,
    /// Query string.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
    /// Peer IP.
    pub ip: IpAddr,
}

/// What handlers get.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// Shared state.
    pub shared: &'a Shared,
    /// The authenticated bot (None on no-auth routes without a token).
    pub bot: Option<Arc<Bot>>,
    /// Path arguments.
    pub args: Vec<&'a str>,
    /// Query parameters.
    pub query: HashMap<String, String>,
    /// The request.
    pub req: &'a ApiRequest,
    /// The parsed body when it is `multipart/form-data`.
    pub form: Option<&'a Result<form::Form, ApiError>>,
}

impl Ctx<'_> {
    /// The JSON body, checking Content-Type as Discord does; for `multipart/form-data`, its
    /// `payload_json` part (or its text fields).
    pub fn json(&self) -> Result<Value, ApiError> {
        if let Some(form) = self.form {
            return form
                .as_ref()
                .map(|f| f.payload.clone())
                .map_err(Clone::clone);
        }
        if self.req.body.is_empty() {
            return Ok(json!({}));
        }
        let ct = self
            .req
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("application/json") {
            return Err(ApiError::field(
                "",
                "CONTENT_TYPE_INVALID",
                "Expected \"Content-Type\" header to be one of {'application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'}.",
            ));
        }
        serde_json::from_slice(&self.req.body).map_err(|_| ApiError::INVALID_JSON)
    }

    /// A message body and the attachment objects of its uploaded files (none unless the body
    /// is multipart), for a message in `channel`.
    pub fn message_body(&self, channel: u64) -> Result<(Value, Vec<Value>), ApiError> {
        let body = self.json()?;
        let uploads = match self.form {
            Some(Ok(f)) => form::attachments(&self.shared.ids, channel, &body, &f.files),
            _ => Vec::new(),
        };
        Ok((body, uploads))
    }

    /// A path argument as a snowflake, or a 50035 naming the field.
    pub fn snowflake(&self, i: usize, field: &str) -> Result<u64, ApiError> {
        let raw = self.args.get(i).copied().unwrap_or("");
        raw.parse::<u64>()
            .map_err(|_| ApiError::field(field, "NUMBER_TYPE_COERCE", "Value is not snowflake."))
    }

    /// The authenticated bot (routes that need auth always have one).
    pub fn bot(&self) -> Result<&Arc<Bot>, ApiError> {
        self.bot.as_ref().ok_or(ApiError::Unauthorized)
    }
}

fn query_map(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or("")
        .split('&')
        .filter_map(|p| p.split_once('=').or(Some((p, ""))))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Percent-decodes a path segment (emoji in reaction routes).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn too_many(limited: &Limited, info: Option<&BucketInfo>) -> Response {
    let mut body = json!({
        "message": "You are being rate limited.",
        "retry_after": limited.retry_after,
        "global": limited.global,
    });
    // `code` is sent only for limits that have one (Discord's global limit uses 0).
    if limited.global {
        body["code"] = json!(0);
    }
    let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &body);
    let h = r.headers_mut();
    let retry = limited.retry_after.ceil().max(1.0) as u64;
    h.insert(header::RETRY_AFTER, HeaderValue::from(retry));
    h.insert("via", HeaderValue::from_static("1.1 google"));
    h.insert("x-ratelimit-scope", HeaderValue::from_static(limited.scope));
    if limited.global {
        h.insert("x-ratelimit-global", HeaderValue::from_static("true"));
    }
    if let Some(info) = info {
        add_bucket_headers(h, info);
    }
    r
}

fn add_bucket_headers(h: &mut HeaderMap, info: &BucketInfo) {
    let pairs = [
        ("x-ratelimit-limit", info.limit.to_string()),
        ("x-ratelimit-remaining", info.remaining.to_string()),
        (
            "x-ratelimit-reset",
            format!("{:.3}", reset_epoch(info.reset_after)),
        ),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", info.reset_after),
        ),
        ("x-ratelimit-bucket", info.bucket.clone()),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    }
}

/// Handles one REST request: every call is recorded with its status.
pub async fn handle(shared: &Arc<Shared>, req: ApiRequest) -> Response {
    let form = form::parse(&req.headers, &req.body).await;
    let (response, bot_id) = handle_inner(shared, &req, form.as_ref());
    let status = response.status().as_u16();
    // A `shared` (per-resource) 429 does not count toward Discord's invalid-request limit.
    let shared_429 = status == 429
        && response
            .headers()
            .get("x-ratelimit-scope")
            .is_some_and(|s| s == "shared");
    {
        let mut c = lock(&shared.rest.counts);
        c.requests += 1;
        if matches!(status, 401 | 403 | 429) && !shared_429 {
            c.invalid_requests += 1;
        }
    }
    let mut log = lock(&shared.rest.log);
    if log.len() >= LOG_CAP {
        log.pop_front();
    }
    log.push_back(RestCall {
        method: req.method.to_string(),
        path: req.path.clone(),
        query: req.query.clone(),
        body: logged_body(&req.body),
        status,
        bot_id: bot_id.map(|b| b.to_string()),
    });
    response
}

fn handle_inner(
    shared: &Arc<Shared>,
    req: &ApiRequest,
    form: Option<&Result<form::Form, ApiError>>,
) -> (Response, Option<u64>) {
    let segs: Vec<&str> = req.rest.split('/').filter(|s| !s.is_empty()).collect();
    let route = match resolve(&req.method, &segs) {
        Ok(r) => r,
        Err(e) => return (e.into_response(), None),
    };
    let auth = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bot = auth.and_then(|a| shared.bot(a));
    if route.auth && bot.is_none() {
        return (ApiError::Unauthorized.into_response(), None);
    }
    let bot_id = bot.as_ref().map(|b| b.identity.user_id);
    let limits = &shared.rest.limits;
    if !route.global_exempt {
        let (key, limit) = match &bot {
            Some(b) => (
                format!("bot:{}", b.identity.user_id),
                limits.global_per_token,
            ),
            None => (format!("ip:{}", req.ip), limits.global_per_ip),
        };
        if let Err(limited) = shared.rest.limiter.global(&key, limit) {
            lock(&shared.rest.counts).rate_limited_global += 1;
            return (too_many(&limited, None), bot_id);
        }
    }
    let limit: Limit = match route.kind {
        RouteKind::CreateMessage => limits.message_create,
        RouteKind::AddReaction
        | RouteKind::RemoveReaction
        | RouteKind::ListReactions
        | RouteKind::RemoveAllReactions
        | RouteKind::RemoveEmojiReactions => limits.reactions,
        _ => limits.default_route,
    };
    let per_bot = bot_id.map_or_else(String::new, |b| b.to_string());
    let (info, limited) =
        shared
            .rest
            .limiter
            .route(&route.bucket, &format!("{per_bot}:{}", route.major), limit);
    if let Some(limited) = limited {
        lock(&shared.rest.counts).rate_limited_route += 1;
        return (too_many(&limited, Some(&info)), bot_id);
    }
    let ctx = Ctx {
        shared,
        bot,
        args: route.args.clone(),
        query: query_map(req.query.as_deref()),
        req,
        form,
    };
    let result = match route.kind {
        RouteKind::Gateway
        | RouteKind::GatewayBot
        | RouteKind::Me
        | RouteKind::MyGuilds
        | RouteKind::CreateDm
        | RouteKind::GetUser
        | RouteKind::Application
        | RouteKind::GetGuild
        | RouteKind::GuildChannels
        | RouteKind::GuildMembers
        | RouteKind::GuildMember => guilds::handle(route.kind, &ctx),
        RouteKind::Commands
        | RouteKind::GuildCommands
        | RouteKind::InteractionCallback
        | RouteKind::WebhookExecute
        | RouteKind::WebhookMessage => interactions::handle(route.kind, &ctx),
        _ => messages::handle(route.kind, &ctx),
    };
    let mut response = match result {
        Ok(reply) => reply.into_response(),
        Err(e) => e.into_response(),
    };
    add_bucket_headers(response.headers_mut(), &info);
    // Discord's docs list the scope only on 429s, but twilight-http 0.18's limiter reads the
    // bucket headers only when a scope is present; sending `user` on every routed response is
    // harmless for other clients and lets twilight pace itself.
    response
        .headers_mut()
        .insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    (response, bot_id)
}
