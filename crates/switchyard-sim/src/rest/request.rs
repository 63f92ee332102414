//! What a REST handler gets: the request, its path arguments and query, the authenticated
//! bot and the parsed body, with the readers of each that answer bad input as Discord does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, Method, header};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::rest::error::ApiError;
use crate::rest::form;
use crate::state::{Bot, Shared, lock};
use crate::world::{Channel, User};

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
        let uploads = self.uploads(channel, &body);
        Ok((body, uploads))
    }

    /// The attachment objects of the uploaded files (none unless the body is multipart) of a
    /// message in `channel` whose payload is `payload`.
    pub fn uploads(&self, channel: u64, payload: &Value) -> Vec<Value> {
        match self.form {
            Some(Ok(f)) => form::attachments(&self.shared.ids, channel, payload, &f.files),
            _ => Vec::new(),
        }
    }

    /// A path argument as a snowflake, or a 50035 naming the field.
    pub fn snowflake(&self, i: usize, field: &str) -> Result<u64, ApiError> {
        let raw = self.arg(i);
        raw.parse::<u64>()
            .map_err(|_| ApiError::field(field, "NUMBER_TYPE_COERCE", "Value is not snowflake."))
    }

    /// A path argument as sent (empty if there is none).
    pub fn arg(&self, i: usize) -> &str {
        self.args.get(i).copied().unwrap_or("")
    }

    /// A query parameter parsed as a number, if present and valid.
    pub fn query_num<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.query.get(key).and_then(|v| v.parse().ok())
    }

    /// Whether a query parameter is `true`.
    pub fn query_flag(&self, key: &str) -> bool {
        // Discord takes `true`, `True` and `1` for true.
        self.query
            .get(key)
            .is_some_and(|v| matches!(v.as_str(), "true" | "True" | "1"))
    }

    /// The authenticated bot (routes that need auth always have one).
    pub fn bot(&self) -> Result<&Arc<Bot>, ApiError> {
        self.bot.as_ref().ok_or(ApiError::Unauthorized)
    }

    /// A channel of the world or a DM channel created at run time.
    pub fn find_channel(&self, id: u64) -> Option<Channel> {
        self.shared
            .world
            .channel(id)
            .cloned()
            .or_else(|| lock(&self.shared.store).dm_channels.get(&id).cloned())
    }

    /// A user: a world member or a bot known to the sim.
    pub fn find_user(&self, id: u64) -> Option<User> {
        if let Some(u) = self.shared.world.user(id) {
            return Some(u.clone());
        }
        lock(&self.shared.bots)
            .values()
            .find(|b| b.identity.user_id == id)
            .map(|b| b.user())
    }
}

/// The parameters of a query string.
pub fn query_map(q: Option<&str>) -> HashMap<String, String> {
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
