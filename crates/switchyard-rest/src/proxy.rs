//! The HTTP REST proxy: Discord's REST under `/api/v10/…` and `/api/…`, every route
//! forwarded (unknown ones too) through the [`RestClient`], bodies streamed both ways.
//!
//! What the proxy adds to Discord's answers: `X-Switchyard-Queue-Ms` (time spent queued) on
//! every forwarded response; and its own answers, each with `X-Switchyard-Generated`: a
//! synthetic 429 when a request may not wait, a 401 for a locked token, a 502 when the
//! upstream cannot be reached.
//!
//! The server is hyper's HTTP/1 connection loop with one service function: the proxy has a
//! single route, so a router's matching, boxing and extensions would be work per request
//! for nothing.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyDataStream;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;

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

/// Serves the proxy on `listener` until `shutdown` resolves, then lets the requests under
/// way finish. With a `secret`, every request must carry it in `X-Switchyard-Secret`
/// (required when the proxy listens on a non-loopback address).
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: RestClient,
    secret: Option<String>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(ProxyState { client, secret });
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let tcp = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => tcp,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY, a response whose body is written after its headers can wait
        // for the client's delayed ACK (tens of milliseconds) under load.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let state = state.clone();
        let service = hyper::service::service_fn(move |req| {
            let state = state.clone();
            async move { Ok::<_, Infallible>(handle(&state, req).await) }
        });
        let conn =
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "proxy connection ended");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// After a failed accept: nothing when the peer gave up, else a pause (out of file
/// descriptors, most likely) so that the loop does not spin.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        tracing::error!(error = %e, "the REST proxy cannot accept connections");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn handle(state: &ProxyState, mut req: Request<Incoming>) -> Response {
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
pub async fn forward<B>(client: &RestClient, req: Request<B>) -> Response
where
    B: http_body::Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
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
            RestBody::Buffer(BodyStream::from_stream(BodyDataStream::new(body)), n)
        }
        _ => RestBody::Stream(BodyStream::from_stream(BodyDataStream::new(body))),
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
