//! The HTTP REST proxy: Discord's REST under `/api/v10/…` and `/api/…`, every route
//! forwarded (unknown ones too) through the [`RestClient`], bodies streamed both ways.
//!
//! What the proxy adds to Discord's answers: `X-Switchyard-Queue-Ms` (time spent queued) on
//! every forwarded response; and its own answers, each with `X-Switchyard-Generated`: a
//! synthetic 429 when a request may not wait, a 401 for a locked token, a 502 when the
//! upstream cannot be reached.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::serve::ListenerExt as _;

use crate::body::BodyStream;
use crate::client::{HOP_BY_HOP, HttpRequest, RestBody, RestClient};
use crate::error::RestError;
use crate::headers::{QUEUE_MS, json_response, proxy_error, synthetic_429};
use crate::ratelimit_route::api_path;

/// Header carrying the proxy's secret when one is configured (stripped before forwarding).
pub const SECRET_HEADER: &str = "x-switchyard-secret";

#[derive(Debug)]
struct ProxyState {
    client: RestClient,
    secret: Option<String>,
}

/// The proxy's routes. With a `secret`, every request must carry it in
/// `X-Switchyard-Secret` (required when the proxy listens on a non-loopback address).
fn router(client: RestClient, secret: Option<String>) -> Router {
    let state = Arc::new(ProxyState { client, secret });
    Router::new().fallback(handle).with_state(state)
}

/// Serves the proxy on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: RestClient,
    secret: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Without TCP_NODELAY, a response whose body is written after its headers can wait for
    // the client's delayed ACK (tens of milliseconds) under load.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(listener, router(client, secret))
        .with_graceful_shutdown(shutdown)
        .await
}

async fn handle(State(state): State<Arc<ProxyState>>, mut req: Request) -> Response {
    if let Some(secret) = &state.secret {
        use subtle::ConstantTimeEq as _;
        // Compared in constant time (for secrets of the same length): the answer's timing
        // does not tell how much of a guess was right.
        let given = req.headers().get(SECRET_HEADER).map(HeaderValue::as_bytes);
        if !given.is_some_and(|g| bool::from(g.ct_eq(secret.as_bytes()))) {
            return proxy_error(
                StatusCode::UNAUTHORIZED,
                "proxy-secret",
                "this proxy requires its secret in the X-Switchyard-Secret header",
            );
        }
    }
    req.headers_mut().remove(SECRET_HEADER);
    forward(&state.client, req).await
}

/// Forwards one request for Discord's REST API (`/api[/vN]/…`) through `client` and answers
/// as the proxy does: Discord's status, headers and body (streamed), or the proxy's own
/// answer ([`RestError::RateLimited`] as a synthetic 429 shaped like Discord's, a locked
/// token as 401, an unreachable upstream as 502, each a JSON body with
/// `X-Switchyard-Generated`). The request's headers, Authorization among them, are sent as
/// they are (hop-by-hop ones aside); a path outside `/api` is a Discord-shaped 404.
///
/// For servers that mount Discord's REST API among their own routes (the face).
pub async fn forward(client: &RestClient, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let headers = parts.headers;
    let path = parts.uri.path();
    if api_path(path).is_none() {
        return json_response(
            StatusCode::NOT_FOUND,
            &serde_json::json!({"message": "404: Not Found", "code": 0}),
        );
    }
    let replay_limit = client.limiter().config().replay_limit;
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let body = match length {
        Some(0) => RestBody::Empty,
        None if !chunked => RestBody::Empty,
        Some(n) if n <= replay_limit => {
            RestBody::Buffer(BodyStream::from_stream(body.into_data_stream()), n)
        }
        _ => RestBody::Stream(BodyStream::from_stream(body.into_data_stream())),
    };
    let request = HttpRequest {
        method: parts.method.clone(),
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers,
        body,
    };
    match client.send(request).await {
        Ok(mut r) => {
            let (status, queued) = (r.status, r.queued);
            let mut headers = std::mem::take(&mut r.headers);
            for h in HOP_BY_HOP {
                headers.remove(h);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", queued.as_secs_f64() * 1e3)) {
                headers.insert(QUEUE_MS, v);
            }
            // Discord's body is relayed chunk by chunk as it arrives, never copied.
            let mut response = Response::new(if parts.method == Method::HEAD {
                Body::empty()
            } else {
                r.into_http_body()
            });
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
        Err(RestError::RateLimited {
            retry_after,
            global,
        }) => synthetic_429(retry_after, global),
        Err(e @ RestError::TokenLocked) => {
            proxy_error(StatusCode::UNAUTHORIZED, "token-locked", &e.to_string())
        }
        Err(e) if e.is_upstream() => {
            tracing::warn!(error = %e, "upstream unreachable");
            proxy_error(
                StatusCode::BAD_GATEWAY,
                "upstream-unreachable",
                &e.to_string(),
            )
        }
        Err(e @ RestError::InvalidRequest(_)) => {
            proxy_error(StatusCode::BAD_REQUEST, "invalid-request", &e.to_string())
        }
        Err(e) => {
            tracing::warn!(error = %e, "proxy failure");
            proxy_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "proxy-failure",
                &e.to_string(),
            )
        }
    }
}
