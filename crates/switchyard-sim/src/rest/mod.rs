//! The REST API: request recording, authentication, the global and per-route rate limits,
//! and the call of the route's handler. The routes are in [`route_table`], one handler
//! function each: [`guilds`] (gateway info, users, DMs, guilds), [`channels`] (channels and
//! messages), [`reactions`], [`interactions`] (commands, callbacks, webhooks).

mod channels;
pub(crate) mod error;
mod form;
mod guild_parts;
mod guilds;
mod interactions;
pub(crate) mod messages;
mod ratelimit;
mod reactions;
mod request;
mod route_table;

pub use request::ApiRequest;

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::config::Limit;
use crate::state::limiter::{BucketInfo, Limited};
use crate::state::rest::RestCall;
use crate::state::{Shared, lock};
use error::ApiError;
use ratelimit::{add_bucket_headers, too_many};
use request::{Ctx, query_map};
use route_table::{LimitClass, Resolved, resolve};

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
    let resolved = match resolve(&req.method, &segs) {
        Ok(r) => r,
        Err(e) => return (e.into_response(), None),
    };
    let auth = req
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bot = auth.and_then(|a| shared.bot(a));
    if resolved.route.auth && bot.is_none() {
        return (ApiError::Unauthorized.into_response(), None);
    }
    let bot_id = bot.as_ref().map(|b| b.identity.user_id);
    let info = match take_limits(shared, &resolved, bot_id, req.ip) {
        Ok(info) => info,
        Err((limited, info)) => return (too_many(&limited, info.as_ref()), bot_id),
    };
    let ctx = Ctx {
        shared,
        bot,
        args: resolved.args,
        query: query_map(req.query.as_deref()),
        req,
        form,
    };
    let mut response = match (resolved.route.handler)(&ctx) {
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

/// Takes one request from the global limit (of the bot, else of the IP; unless the route is
/// exempt) and then from the route's bucket: the bucket's header facts, or the 429's facts
/// (with the bucket's, for a route's 429).
fn take_limits(
    shared: &Shared,
    resolved: &Resolved<'_>,
    bot_id: Option<u64>,
    ip: IpAddr,
) -> Result<BucketInfo, (Limited, Option<BucketInfo>)> {
    let limits = &shared.rest.limits;
    if !resolved.route.global_exempt {
        let (key, limit) = match bot_id {
            Some(b) => (format!("bot:{b}"), limits.global_per_token),
            None => (format!("ip:{ip}"), limits.global_per_ip),
        };
        if let Err(limited) = shared.rest.limiter.global(&key, limit) {
            lock(&shared.rest.counts).rate_limited_global += 1;
            return Err((limited, None));
        }
    }
    let limit: Limit = match resolved.route.limit {
        LimitClass::MessageCreate => limits.message_create,
        LimitClass::Reactions => limits.reactions,
        LimitClass::Default => limits.default_route,
    };
    let per_bot = bot_id.map_or_else(String::new, |b| b.to_string());
    let (info, limited) = shared.rest.limiter.route(
        &resolved.bucket,
        &format!("{per_bot}:{}", resolved.major),
        limit,
    );
    if let Some(limited) = limited {
        lock(&shared.rest.counts).rate_limited_route += 1;
        return Err((limited, Some(info)));
    }
    Ok(info)
}
