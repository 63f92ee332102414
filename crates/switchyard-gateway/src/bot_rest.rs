//! [`BotRest`]: REST calls made with a bot's token by callers beside the outbound topics (the
//! gRPC REST service). The token stays inside: callers name a route, never the token.
//!
//! A callback of one of the HTTP endpoint's open interactions is handled as the outbound
//! path handles it: it becomes the endpoint's HTTP answer while Discord waits.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use serde_json::Value;
use switchyard_rest::{HttpRequest, HttpResponse, RestBody, RestClient, RestError};

use crate::interactions::{Claim, OpenInteractions};
use crate::secret::Secret;

/// One bot's REST calls: the process's rate-limited client with the bot's token. Cheap to
/// clone.
#[derive(Clone)]
pub struct BotRest {
    bot: Arc<str>,
    rest: RestClient,
    token: Secret,
    interactions: Arc<OpenInteractions>,
}

impl std::fmt::Debug for BotRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotRest")
            .field("bot", &self.bot)
            .finish_non_exhaustive()
    }
}

/// A request as a caller gives it: the route relative to `/api/v10` (or with its own
/// `/api/vN` prefix), no token.
#[derive(Debug, Default)]
pub struct BotRestRequest {
    /// The method.
    pub method: Method,
    /// The path, e.g. `/channels/1/messages`.
    pub path: String,
    /// The query string, without `?`.
    pub query: Option<String>,
    /// Headers to send (`X-Audit-Log-Reason`, `Content-Type`); an `Authorization` header is
    /// replaced with the bot's. A body without a `Content-Type` is sent as JSON.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// How a call was answered.
#[derive(Debug)]
pub enum BotRestAnswer {
    /// Discord's answer.
    Discord(HttpResponse),
    /// The call was the callback of an interaction the HTTP endpoint held open, and became
    /// its HTTP answer (or the endpoint had deferred it already): nothing went to REST.
    Endpoint,
}

/// Why a call was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotRestError {
    /// The REST client's error (rate limited by the proxy, unreachable, invalid request).
    #[error(transparent)]
    Rest(#[from] RestError),
    /// An interaction callback that Discord can no longer take; the reason says why.
    #[error("{0}")]
    TooLate(String),
}

impl BotRest {
    pub(crate) fn new(
        bot: &str,
        rest: RestClient,
        token: Secret,
        interactions: Arc<OpenInteractions>,
    ) -> Self {
        BotRest {
            bot: bot.into(),
            rest,
            token,
            interactions,
        }
    }

    /// The bot's name.
    pub fn bot(&self) -> &str {
        &self.bot
    }

    /// Sends `req` with the bot's token through the rate limiter.
    pub async fn send(&self, req: BotRestRequest) -> Result<BotRestAnswer, BotRestError> {
        let BotRestRequest {
            mut method,
            mut path,
            query,
            mut headers,
            mut body,
        } = req;
        if method == Method::POST && path.ends_with("/callback") {
            let json = serde_json::from_slice::<Value>(&body).ok();
            match (self.interactions).claim(&method, without_api_prefix(&path), json.as_ref()) {
                Claim::Rest => {}
                Claim::Answered | Claim::AlreadyDeferred => return Ok(BotRestAnswer::Endpoint),
                Claim::Instead {
                    method: m,
                    path: p,
                    body: b,
                } => {
                    (method, path, body) = (m, p, Bytes::from(b.to_string()));
                    headers.insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    );
                }
                Claim::TooLate(reason) => return Err(BotRestError::TooLate(reason)),
            }
        }
        let mut request = HttpRequest::new(method, &path, Some(self.token.expose()));
        // the bot's Authorization, which `new` set, wins over the caller's
        headers.remove(header::AUTHORIZATION);
        request.headers.extend(headers);
        if !body.is_empty() && !request.headers.contains_key(header::CONTENT_TYPE) {
            request.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        request.query = query.filter(|q| !q.is_empty());
        request.body = match body.is_empty() {
            true => RestBody::Empty,
            false => RestBody::Bytes(body),
        };
        Ok(BotRestAnswer::Discord(self.rest.send(request).await?))
    }
}

/// `path` without its `/api` or `/api/vN` prefix, as the interactions table names routes.
fn without_api_prefix(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api") else {
        return path;
    };
    match rest.strip_prefix("/v") {
        Some(versioned) => {
            let digits = versioned.bytes().take_while(u8::is_ascii_digit).count();
            match digits {
                0 => rest,
                n => &versioned[n..],
            }
        }
        None => rest,
    }
}

#[cfg(test)]
mod tests {
    use super::without_api_prefix;

    #[test]
    fn a_route_is_named_without_its_api_prefix() {
        for (path, route) in [
            ("/interactions/1/t/callback", "/interactions/1/t/callback"),
            (
                "/api/interactions/1/t/callback",
                "/interactions/1/t/callback",
            ),
            (
                "/api/v10/interactions/1/t/callback",
                "/interactions/1/t/callback",
            ),
            ("/api/v9/channels/1", "/channels/1"),
        ] {
            assert_eq!(without_api_prefix(path), route);
        }
    }
}
