//! The responses of REST rate limits: Discord's 429 body and headers, and the bucket headers
//! of every limited route (the limits themselves are `state::limiter`'s).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::json;

use crate::rest::error::json_response;
use crate::state::limiter::{BucketInfo, Limited, reset_epoch};

/// The 429 of a limit: Discord's body, `Retry-After`, the scope headers and, for a route
/// bucket, its headers.
pub fn too_many(limited: &Limited, info: Option<&BucketInfo>) -> Response {
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

/// The `X-RateLimit-*` headers of a route bucket.
pub fn add_bucket_headers(h: &mut HeaderMap, info: &BucketInfo) {
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
