//! The live dashboard at `/` of the admin listener: one page whose HTML, CSS and script are
//! built into the binary, a server-sent event stream of snapshots (`stream`, built by
//! `snapshot`), and the operator's actions (`actions`). This module owns who may use them:
//! the admin token (as everywhere on the listener), the Host check against DNS rebinding, and
//! the per-page tokens that actions carry (`actions` checks Origin too).

mod actions;
mod prom;
mod snapshot;
mod stream;

pub use actions::ServiceControl;
pub(super) use stream::Sources;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use super::{AdminState, authorized};
use crate::config::AdminConfig;

const PAGE: &str = include_str!("assets/index.html");
const STYLE: &str = include_str!("assets/dashboard.css");
const SCRIPT: &str = include_str!("assets/dashboard.js");

/// Where the page carries its token, and the header an action sends it back in.
const TOKEN_MARK: &str = "{{PAGE_TOKEN}}";
const TOKEN_HEADER: &str = "x-switchyard-page-token";

/// How many page tokens stay valid: the pages served most recently.
const TOKENS_KEPT: usize = 64;

/// The dashboard's state on one admin listener.
pub(super) struct Dashboard {
    /// The tokens of the pages served lately, newest last.
    tokens: Mutex<VecDeque<String>>,
    /// The listener's own address.
    bound: SocketAddr,
    /// Host names (without port) that also name this listener: `admin.hosts` and the host
    /// of `admin.advertise`.
    names: Vec<String>,
    /// The snapshots.
    feed: stream::Feed,
    /// SHUTDOWN and REBOOT, where the command controls services.
    control: Option<ServiceControl>,
}

impl Dashboard {
    /// The dashboard of the listener bound at `bound`, sampling `sources` from now on.
    pub(super) fn start(
        config: &AdminConfig,
        bound: SocketAddr,
        sources: Sources,
        control: Option<ServiceControl>,
    ) -> Dashboard {
        let mut names: Vec<String> = config.hosts.iter().map(|h| h.to_lowercase()).collect();
        if let Some(url) = &config.advertise {
            let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
            let authority = rest.split('/').next().unwrap_or_default();
            names.push(split_host(authority).0.to_lowercase());
        }
        Dashboard {
            tokens: Mutex::new(VecDeque::with_capacity(TOKENS_KEPT)),
            bound,
            names,
            feed: stream::start(sources),
            control,
        }
    }

    /// A new page token, kept among the valid ones.
    fn issue(&self) -> Option<String> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).ok()?;
        let token = hex::encode(bytes);
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() == TOKENS_KEPT {
            tokens.pop_front();
        }
        tokens.push_back(token.clone());
        Some(token)
    }

    /// Whether `given` is the token of a page served lately.
    fn valid(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        let tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        tokens.iter().fold(false, |found, t| {
            found | bool::from(t.as_bytes().ct_eq(given.as_bytes()))
        })
    }

    /// Whether the Host header names this listener: its own address (any address of the
    /// machine when it binds a wildcard), `localhost`, or a configured name. A page of another site whose name was rebound to this address sends that name,
    /// and is refused.
    fn host_ok(&self, host: &str) -> bool {
        let (name, port) = split_host(host);
        let name = name.to_lowercase();
        if self.names.contains(&name) {
            return true;
        }
        if port != Some(self.bound.port()) {
            return false;
        }
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>();
        match ip {
            Ok(ip) => ip == self.bound.ip() || self.bound.ip().is_unspecified(),
            // `localhost` cannot be pointed elsewhere by another site
            Err(_) => name == "localhost",
        }
    }
}

/// `host[:port]` (or `[v6]:port`) split in two.
fn split_host(authority: &str) -> (&str, Option<u16>) {
    let colon = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => at,
        _ => return (authority, None),
    };
    match authority[colon + 1..].parse() {
        Ok(port) => (&authority[..colon], Some(port)),
        Err(_) => (authority, None),
    }
}

pub(super) fn routes() -> axum::Router<AdminState> {
    axum::Router::new()
        .route("/", get(page))
        .route("/dashboard.css", get(style))
        .route("/dashboard.js", get(script))
        .route("/dashboard/stream", get(stream::events))
        .route("/dashboard/move", post(actions::move_shard))
        .route("/dashboard/drain", post(actions::drain))
        .route("/dashboard/service", post(actions::service))
}

/// A refusal as the page shows it: the status and a sentence.
pub(super) fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    (
        status,
        axum::Json(json!({"accepted": false, "message": message})),
    )
        .into_response()
}

/// What every dashboard request must pass: the admin token (a browser asks for it, as basic
/// auth) and the Host check. The refusal, if any.
pub(super) fn admit(state: &AdminState, headers: &HeaderMap) -> Option<Response> {
    if !authorized(state, headers) {
        return Some((
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                "Basic realm=\"switchyard admin (the password is admin.token)\", charset=\"UTF-8\"",
            )],
            "the admin listener wants its token (admin.token): as the password, any user name\n",
        )
            .into_response());
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !state.dashboard.host_ok(host) {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} does not name this admin listener ({}); reach it by its address, or add the name to admin.hosts",
                state.dashboard.bound
            ),
        ));
    }
    None
}

async fn page(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    if let Some(refused) = admit(&state, &headers) {
        return refused;
    }
    let Some(token) = state.dashboard.issue() else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "no randomness for a page token",
        );
    };
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            ),
        ],
        PAGE.replace(TOKEN_MARK, &token),
    )
        .into_response()
}

async fn style(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    asset(&state, &headers, "text/css; charset=utf-8", STYLE)
}

async fn script(State(state): State<AdminState>, headers: HeaderMap) -> Response {
    asset(&state, &headers, "text/javascript; charset=utf-8", SCRIPT)
}

fn asset(
    state: &AdminState,
    headers: &HeaderMap,
    kind: &'static str,
    body: &'static str,
) -> Response {
    if let Some(refused) = admit(state, headers) {
        return refused;
    }
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(bind: &str, hosts: &[&str]) -> Dashboard {
        Dashboard {
            tokens: Mutex::default(),
            bound: bind.parse().expect("address"),
            names: hosts.iter().map(|h| (*h).to_owned()).collect(),
            feed: stream::Feed::idle(),
            control: None,
        }
    }

    #[test]
    fn the_host_must_name_the_listener() {
        let d = dashboard("127.0.0.1:7380", &["dash.example"]);
        for ok in [
            "127.0.0.1:7380",
            "localhost:7380",
            "dash.example",
            "dash.example:443",
        ] {
            assert!(d.host_ok(ok), "{ok}");
        }
        for bad in [
            "evil.example:7380",
            "127.0.0.1:7381",
            "localhost",
            "",
            "[::1]:7380",
        ] {
            assert!(!d.host_ok(bad), "{bad}");
        }
        let any = dashboard("0.0.0.0:7380", &[]);
        assert!(any.host_ok("10.1.2.3:7380") && any.host_ok("[fd00::1]:7380"));
        assert!(any.host_ok("localhost:7380") && !any.host_ok("rebound.example:7380"));
    }

    #[test]
    fn only_issued_tokens_are_valid() {
        let d = dashboard("127.0.0.1:7380", &[]);
        let first = d.issue().expect("token");
        assert_eq!(first.len(), 32);
        assert!(d.valid(&first) && !d.valid("") && !d.valid(&"0".repeat(32)));
        for _ in 0..TOKENS_KEPT {
            d.issue();
        }
        assert!(!d.valid(&first), "the oldest token expires");
    }
}
