//! Every REST route the face does not answer itself: the client's face token replaced with
//! the bot's real one, then the request sent through Switchyard's REST rate limiter exactly
//! as the REST proxy sends it ([`switchyard_rest::forward_request`]: method, path, query,
//! headers and body as they came, Discord's answer streamed back, the limiter's refusals as
//! Discord-shaped 429s).

use axum::extract::{Request, State};
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;

use super::{Auth, GENERATED, RestState, auth, face_error, refused, served, unauthorized};

/// Forwards one request: with a face token re-signed with the real one, without
/// Authorization as it is, with any other token refused with Discord's 401.
pub(super) async fn forward(State(state): State<RestState>, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let presented = auth(&parts.headers, &state.options);
    if matches!(presented, Auth::Wrong) {
        return unauthorized();
    }
    let Some(upstream) = &state.upstream else {
        return face_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-upstream",
            "this face forwards no REST calls: it was started without a REST client",
        );
    };
    if matches!(presented, Auth::Face) {
        let real = upstream
            .token
            .strip_prefix("Bot ")
            .unwrap_or(&upstream.token);
        let Ok(mut value) = HeaderValue::from_str(&format!("Bot {real}")) else {
            return face_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "bad-upstream-token",
                "the bot's Discord token cannot be sent in a header: check the configured token",
            );
        };
        value.set_sensitive(true);
        parts.headers.insert(header::AUTHORIZATION, value);
    }
    if let Some(uri) = versioned(&parts.uri) {
        parts.uri = uri;
    }
    served("forward");
    let response =
        switchyard_rest::forward_request(&upstream.client, Request::from_parts(parts, body)).await;
    if let Some(reason) = response.headers().get(GENERATED) {
        refused(generated_reason(reason));
    }
    response
}

/// `/api/…` without a version as `/api/v10/…` (Discord's default version is older, but
/// libraries that leave the version out expect today's API). `None`: already versioned.
fn versioned(uri: &Uri) -> Option<Uri> {
    let rest = uri.path().strip_prefix("/api")?;
    let first = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    let is_version =
        first.len() > 1 && first.starts_with('v') && first[1..].bytes().all(|b| b.is_ascii_digit());
    if is_version {
        return None;
    }
    let path = match uri.query() {
        Some(q) => format!("/api/v10{rest}?{q}"),
        None => format!("/api/v10{rest}"),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(path).ok()?);
    Uri::from_parts(parts).ok()
}

/// The metric label of an answer the REST proxy generated, from its `X-Switchyard-Generated`
/// (a fixed set, so that a label never carries request data).
fn generated_reason(value: &HeaderValue) -> &'static str {
    match value.as_bytes() {
        b"rate-limit" => "rate-limit",
        b"token-locked" => "token-locked",
        b"upstream-unreachable" => "upstream-unreachable",
        b"invalid-request" => "invalid-request",
        _ => "proxy-failure",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_without_a_version_are_sent_as_v10() {
        let uri = |s: &str| s.parse::<Uri>().expect("uri");
        assert_eq!(
            versioned(&uri("/api/channels/1/messages?limit=2")),
            Some(uri("/api/v10/channels/1/messages?limit=2"))
        );
        assert_eq!(versioned(&uri("/api/v9/channels/1")), None);
        assert_eq!(versioned(&uri("/api/v10/users/@me")), None);
        assert_eq!(
            versioned(&uri("/api/voice/regions")),
            Some(uri("/api/v10/voice/regions"))
        );
    }
}
