//! [`RestClient`]: sends any request for any token through the [`Limiter`], retries upstream
//! 429s (bounded, when the body can be replayed), and hands back the response with its body
//! still streaming. The proxy and the gateway's outbound path both use it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use crate::body::BodyStream;
use crate::config::RestConfig;
use crate::error::RestError;
use crate::headers;
use crate::limiter::{Limiter, Ticket};
use crate::ratelimit_route::{RouteInfo, api_path};
use crate::route_metrics::RouteMetrics;
use crate::store::Observed;
use crate::upstream::{UpBody, Upstream};

/// Headers that belong to one connection and are never forwarded (as names, since a lookup by
/// `&str` parses the name each time).
pub const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Largest 429 body read to find `retry_after`.
const MAX_429_BODY: usize = 64 * 1024;

/// A request body.
#[derive(Debug, Default)]
pub enum RestBody {
    /// No body.
    #[default]
    Empty,
    /// A buffered body; it can be replayed, so a 429 is retried.
    Bytes(Bytes),
    /// A streamed body (uploads); sent once, so a 429 is passed on.
    Stream(BodyStream),
    /// A body of this many bytes, read only once the request has its place in its bucket's
    /// queue (so queue order is arrival order), then replayable like [`RestBody::Bytes`].
    Buffer(BodyStream, usize),
}

/// An HTTP request to Discord's REST API as the client sends it: method, `/api` path, query,
/// headers (the token among them) and body. (A bot built with `switchyard-bot` describes its
/// calls with that crate's `RestRequest` instead, which the gateway turns into one of these.)
#[derive(Debug)]
pub struct HttpRequest {
    /// Method.
    pub method: Method,
    /// Path with its `/api[/vN]` prefix, e.g. `/api/v10/channels/1/messages`.
    pub path: String,
    /// Query string without `?`.
    pub query: Option<String>,
    /// Headers to send (Authorization selects the token's limiter).
    pub headers: HeaderMap,
    /// Body.
    pub body: RestBody,
}

impl HttpRequest {
    /// A request for `path` relative to `/api/v10` (e.g. `/channels/1/messages`) with
    /// `Authorization: Bot {token}`; paths already starting with `/api` are kept.
    pub fn new(method: Method, path: &str, token: Option<&str>) -> Self {
        let path = if path.starts_with("/api/") {
            path.to_owned()
        } else {
            format!("/api/v10/{}", path.trim_start_matches('/'))
        };
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let value = if token.starts_with("Bot ") || token.starts_with("Bearer ") {
                token.to_owned()
            } else {
                format!("Bot {token}")
            };
            if let Ok(mut v) = HeaderValue::from_str(&value) {
                v.set_sensitive(true);
                headers.insert(header::AUTHORIZATION, v);
            }
        }
        HttpRequest {
            method,
            path,
            query: None,
            headers,
            body: RestBody::Empty,
        }
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &serde_json::Value) -> Self {
        self.headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.body = RestBody::Bytes(Bytes::from(body.to_string()));
        self
    }
}

#[derive(Debug)]
enum Body {
    Upstream(Incoming),
    Buffered(Bytes),
}

/// Discord's HTTP answer to an [`HttpRequest`], its body still streaming.
#[derive(Debug)]
pub struct HttpResponse {
    /// Status.
    pub status: StatusCode,
    /// Headers (rate-limit headers included).
    pub headers: HeaderMap,
    /// Time spent queued in the limiter, over every attempt.
    pub queued: Duration,
    /// Attempts made (more than 1 when a 429 was retried).
    pub attempts: u32,
    body: Body,
}

impl HttpResponse {
    /// The whole body.
    pub async fn bytes(self) -> Result<Bytes, RestError> {
        match self.body {
            Body::Buffered(b) => Ok(b),
            Body::Upstream(r) => r
                .collect()
                .await
                .map(|c| c.to_bytes())
                .map_err(RestError::interrupted),
        }
    }

    /// The body for an HTTP server relaying it as it arrives, chunks passed on as they are.
    pub(crate) fn into_http_body(self) -> axum::body::Body {
        match self.body {
            Body::Buffered(b) => axum::body::Body::from(b),
            Body::Upstream(r) => axum::body::Body::new(r),
        }
    }

    /// The body as a stream, read as it arrives (for an HTTP server relaying it).
    pub fn into_body(self) -> BodyStream {
        match self.body {
            Body::Buffered(b) => BodyStream::from(b),
            Body::Upstream(r) => BodyStream::from_stream(r.into_data_stream()),
        }
    }
}

/// The REST client: one per process, cheap to clone.
#[derive(Debug, Clone)]
pub struct RestClient {
    limiter: Arc<Limiter>,
    upstream: Upstream,
    metrics: Arc<RouteMetrics>,
}

impl RestClient {
    /// Builds the limiter (connecting to Redis if configured) and the HTTP client.
    pub async fn new(cfg: RestConfig) -> Result<Self, RestError> {
        // at zero from the start, so that dashboards show a line rather than no data
        metrics::counter!("switchyard_rest_retries_total").increment(0);
        // Connections to Discord are kept and reused, with TCP_NODELAY so that a request
        // body written after its headers never waits for a delayed ACK.
        let upstream = Upstream::new(&cfg.upstream, cfg.connect_timeout)?;
        let limiter = Limiter::new(cfg).await?;
        Ok(RestClient {
            limiter,
            upstream,
            metrics: Arc::default(),
        })
    }

    /// The limiter (for stats, unlocking tokens).
    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Sends `req` when its bucket and the global limit allow, retrying upstream 429s.
    ///
    /// Errors: [`RestError::RateLimited`] when the wait would exceed the maximum (or the
    /// limiter fails fast), [`RestError::TokenLocked`] after a 401 for this token,
    /// [`RestError::Connect`], [`RestError::Timeout`] or [`RestError::Interrupted`] when
    /// Discord cannot be reached ([`RestError::is_upstream`]).
    pub async fn send(&self, req: HttpRequest) -> Result<HttpResponse, RestError> {
        let started = Instant::now();
        let api = api_path(&req.path).ok_or_else(|| {
            RestError::InvalidRequest("the path must start with /api/".to_owned())
        })?;
        // parsed before a slot is taken, so that a bad path costs no slot
        let uri = self.upstream.uri(&req.path, req.query.as_deref())?;
        let route = RouteInfo::classify(req.method.as_str(), api);
        let auth = req
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let mut ticket = self.limiter.enqueue(auth, route).await?;
        let body = match req.body {
            RestBody::Buffer(body, len) => match body.read_at_most(len).await {
                Ok(b) => RestBody::Bytes(b),
                Err(_) => {
                    return Err(RestError::InvalidRequest(
                        "the request body ended early or exceeded its Content-Length".to_owned(),
                    ));
                }
            },
            other => other,
        };
        self.limiter.reserve(&mut ticket, started).await?;
        let mut headers = req.headers;
        for h in HOP_BY_HOP {
            headers.remove(h);
        }
        headers.remove(header::HOST);
        let replay = match &body {
            RestBody::Bytes(b) => Some(b.clone()),
            RestBody::Empty => Some(Bytes::new()),
            RestBody::Stream(_) | RestBody::Buffer(..) => None,
        };
        // A buffered body goes with its length; Discord answers a POST, PUT or PATCH without
        // one (an empty body among them) with 411 Length Required.
        if let Some(b) = &replay
            && (!b.is_empty() || !matches!(req.method, Method::GET | Method::HEAD))
        {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(b.len()));
        }
        let mut stream = match body {
            RestBody::Stream(b) => Some(b),
            _ => None,
        };
        let max_retries = self.limiter.config().max_retries;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let body = match (&replay, stream.take()) {
                (_, Some(body)) => UpBody::Stream(body),
                (Some(b), None) if !b.is_empty() || !matches!(req.method, Method::GET) => {
                    UpBody::Full(Some(b.clone()))
                }
                _ => UpBody::Empty,
            };
            let mut request = http::Request::new(body);
            *request.method_mut() = req.method.clone();
            *request.uri_mut() = uri.clone();
            // the headers are moved into the last attempt, copied only while a retry can follow
            *request.headers_mut() = if replay.is_some() && attempts <= max_retries {
                headers.clone()
            } else {
                std::mem::take(&mut headers)
            };
            let sent = Instant::now();
            let mut response = match self.upstream.send(request).await {
                Ok(r) => r,
                Err(e) => {
                    self.limiter
                        .complete(&ticket, &Observed::default(), 0, false)
                        .await;
                    self.record(&ticket, 0, sent);
                    return Err(e);
                }
            };
            let status = response.status();
            let shared = headers::shared_scope(response.headers());
            if status != StatusCode::TOO_MANY_REQUESTS {
                let seen = headers::observe(status, response.headers(), None);
                self.limiter
                    .complete(&ticket, &seen, status.as_u16(), shared)
                    .await;
                self.record(&ticket, status.as_u16(), sent);
                let rh = std::mem::take(response.headers_mut());
                return Ok(finish(
                    ticket,
                    status,
                    rh,
                    attempts,
                    Body::Upstream(response.into_body()),
                ));
            }
            let rh = std::mem::take(response.headers_mut());
            let body = read_limited(response.into_body()).await;
            let seen = headers::observe(status, &rh, Some(&body));
            self.limiter.complete(&ticket, &seen, 429, shared).await;
            self.record(&ticket, 429, sent);
            if replay.is_none() || attempts > max_retries {
                return Ok(finish(ticket, status, rh, attempts, Body::Buffered(body)));
            }
            metrics::counter!("switchyard_rest_retries_total").increment(1);
            self.limiter.reserve(&mut ticket, started).await?;
        }
    }
}

impl RestClient {
    /// Counts one exchange with Discord (`status` 0: none, counted as 502).
    fn record(&self, ticket: &Ticket, status: u16, sent: Instant) {
        self.metrics
            .record(&ticket.route.key, status, sent, ticket.queued.as_secs_f64());
    }
}

fn finish(
    ticket: Ticket,
    status: StatusCode,
    headers: HeaderMap,
    attempts: u32,
    body: Body,
) -> HttpResponse {
    HttpResponse {
        status,
        headers,
        queued: ticket.queued,
        attempts,
        body,
    }
}

async fn read_limited(mut body: Incoming) -> Bytes {
    let mut buf = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Some(chunk) = frame.data_ref() {
            buf.extend_from_slice(chunk);
        }
        if buf.len() > MAX_429_BODY {
            break;
        }
    }
    Bytes::from(buf)
}
