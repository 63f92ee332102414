//! The allowlist of REST routes a general outbound request may use: anyone who can publish
//! on `outbound.discord.…` acts with the bot's token, so only listed routes are called.
//!
//! An entry is a named group (`messages`, `reactions`, `typing`, `interactions`) or a pattern
//! `[METHOD ]/path/with/{id}/*/segments`, where `{id}` matches one snowflake (digits only),
//! `*` matches any one segment and a trailing `**` one or more. Paths are matched without their
//! `/api/vN` prefix, after [`check_path`] has refused traversal and encoded separators.

use http::Method;
use switchyard_core::outbound::{ErrorKind, Rejected, RestCall};
use switchyard_rest::{is_id, redact_token};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    Id,
    One,
    Rest,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    method: Option<Method>,
    segs: Vec<Seg>,
}

/// The route groups allowed by default.
pub const DEFAULT_GROUPS: [&str; 4] = ["messages", "reactions", "typing", "interactions"];

fn group(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "messages" => &[
            "/channels/{id}/messages",
            "/channels/{id}/messages/{id}",
            "POST /channels/{id}/messages/bulk-delete",
            "POST /channels/{id}/messages/{id}/crosspost",
        ],
        "reactions" => &["/channels/{id}/messages/{id}/reactions/**"],
        "typing" => &["POST /channels/{id}/typing"],
        // The callback, follow-ups (`POST /webhooks/{app}/{token}`) and the original or
        // follow-up messages (`/webhooks/{app}/{token}/messages/…`).
        "interactions" => &[
            "POST /interactions/{id}/*/callback",
            "POST /webhooks/{id}/*",
            "/webhooks/{id}/*/**",
        ],
        _ => return None,
    })
}

/// An allowlist entry that is neither a group nor a valid path pattern.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route {entry:?}: {problem}; groups: {groups}", groups = DEFAULT_GROUPS.join(", "))]
pub struct BadRoute {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// A parsed allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteAllowlist {
    rules: Vec<Rule>,
}

impl Default for RouteAllowlist {
    fn default() -> Self {
        // The default groups are known; parsing them cannot fail.
        Self::parse(DEFAULT_GROUPS).unwrap_or(RouteAllowlist { rules: Vec::new() })
    }
}

impl RouteAllowlist {
    /// Parses entries (group names or patterns); the error names the bad entry.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, BadRoute> {
        let mut rules = Vec::new();
        for entry in entries {
            let entry = entry.trim();
            if let Some(patterns) = group(entry) {
                for p in patterns {
                    rules.push(rule(p)?);
                }
            } else {
                rules.push(rule(entry)?);
            }
        }
        Ok(RouteAllowlist { rules })
    }

    /// Whether `method path` is allowed (`path` without query, with or without `/api/vN`).
    pub fn allows(&self, method: &Method, path: &str) -> bool {
        let path = strip_api(path);
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        self.rules
            .iter()
            .any(|r| r.method.as_ref().is_none_or(|m| m == method) && matches(&r.segs, &segs))
    }
}

/// `/api/v10/x` and `/api/x` → `/x`.
pub fn strip_api(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/api") else {
        return path;
    };
    if let Some(after) = rest.strip_prefix("/v")
        && let Some(slash) = after.find('/')
        && after[..slash].bytes().all(|b| b.is_ascii_digit())
    {
        return &after[slash..];
    }
    if rest.starts_with('/') { rest } else { path }
}

fn rule(entry: &str) -> Result<Rule, BadRoute> {
    let bad = |problem| BadRoute {
        entry: entry.to_owned(),
        problem,
    };
    let (method, path) = match entry.split_once(' ') {
        Some((m, p)) => {
            let method = Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes())
                .map_err(|_| bad("not an HTTP method"))?;
            (Some(method), p.trim())
        }
        None => (None, entry),
    };
    if !path.starts_with('/') {
        return Err(bad("neither a group nor a path pattern starting with /"));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut segs = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        segs.push(match *p {
            "**" if i + 1 == parts.len() => Seg::Rest,
            "**" => return Err(bad("`**` must be last")),
            "*" => Seg::One,
            "{id}" => Seg::Id,
            "" => return Err(bad("an empty segment")),
            lit => Seg::Literal(lit.to_owned()),
        });
    }
    Ok(Rule { method, segs })
}

fn matches(rule: &[Seg], path: &[&str]) -> bool {
    match (rule.first(), path.first()) {
        (Some(Seg::Rest), _) => !path.is_empty() && path.iter().all(|s| !s.is_empty()),
        (Some(Seg::One), Some(s)) => !s.is_empty() && matches(&rule[1..], &path[1..]),
        (Some(Seg::Id), Some(s)) => is_id(s) && matches(&rule[1..], &path[1..]),
        (Some(Seg::Literal(l)), Some(s)) => l == s && matches(&rule[1..], &path[1..]),
        (None, None) => true,
        _ => false,
    }
}

/// Why a path is refused before the allowlist is consulted: it must be absolute, with no
/// empty, `.` or `..` segments (plain or percent-encoded), no percent-encoded `/` or `\`
/// (which Discord would decode into separators), no malformed `%` escapes, no control
/// characters, spaces, backslashes or fragment.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("the path must start with /");
    }
    if path
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || b == b'\\' || b == b'#')
    {
        return Err("the path contains a control character, space, backslash or #");
    }
    let bytes = path.as_bytes();
    for (i, _) in path.match_indices('%') {
        let escape = bytes.get(i + 1..i + 3);
        let Some(hex) = escape.filter(|h| h.iter().all(u8::is_ascii_hexdigit)) else {
            return Err("the path has a malformed percent escape");
        };
        if hex.eq_ignore_ascii_case(b"2f") || hex.eq_ignore_ascii_case(b"5c") {
            return Err("the path contains a percent-encoded / or \\ (%2F, %5C)");
        }
    }
    for s in path.trim_start_matches('/').split('/') {
        let lower = s.to_ascii_lowercase().replace("%2e", ".");
        if s.is_empty() {
            return Err("the path has an empty segment");
        }
        if lower == "." || lower == ".." {
            return Err("the path has a . or .. segment");
        }
    }
    Ok(())
}

/// Admits a REST request under the gateway's policy: a safe path (see [`check_path`]) on an
/// allowed route. Returns the method and the path without its `/api/vN` prefix.
pub(crate) fn admit(call: &RestCall, allow: &RouteAllowlist) -> Result<(Method, String), Rejected> {
    let method = Method::from_bytes(call.method.as_bytes()).map_err(|_| {
        Rejected::new(
            ErrorKind::BadPayload,
            format!("bad method {:?}", call.method),
        )
    })?;
    let checked = match check_path(&call.path) {
        Err(why) => Err(why),
        Ok(()) if call.query.as_deref().is_some_and(|q| q.contains('#')) => {
            Err("the query contains #")
        }
        Ok(()) => Ok(()),
    };
    if let Err(why) = checked {
        return Err(Rejected::new(
            ErrorKind::BadPayload,
            format!(
                "unsafe or malformed path {:?}: {why}",
                redact_token(&call.path)
            ),
        ));
    }
    if !allow.allows(&method, &call.path) {
        return Err(Rejected::new(
            ErrorKind::RouteNotAllowed,
            format!(
                "{method} {} is not in gateway.allowed_routes (ids must be numeric; anyone who can publish acts with the bot's token; add the route there if it is meant to be used)",
                redact_token(&call.path)
            ),
        ));
    }
    Ok((method, strip_api(&call.path).to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_groups() {
        let a = RouteAllowlist::default();
        assert!(a.allows(&Method::POST, "/channels/1/messages"));
        assert!(a.allows(&Method::PATCH, "/api/v10/channels/1/messages/2"));
        assert!(a.allows(
            &Method::PUT,
            "/channels/1/messages/2/reactions/%F0%9F%91%8D/@me"
        ));
        assert!(a.allows(&Method::POST, "/channels/1/typing"));
        assert!(!a.allows(&Method::GET, "/channels/1/typing"));
        assert!(a.allows(&Method::POST, "/interactions/1/tok/callback"));
        assert!(!a.allows(&Method::DELETE, "/guilds/1"));
        assert!(!a.allows(&Method::PUT, "/guilds/1/bans/2"));
        assert!(!a.allows(&Method::POST, "/channels/1/messages/"));
    }

    #[test]
    fn custom_patterns_and_errors() {
        let a = RouteAllowlist::parse(["GET /guilds/*/members/*", "typing"]).expect("valid");
        assert!(a.allows(&Method::GET, "/guilds/1/members/2"));
        assert!(!a.allows(&Method::PATCH, "/guilds/1/members/2"));
        assert!(!a.allows(&Method::POST, "/channels/1/messages"));
        assert!(RouteAllowlist::parse(["mesages"]).is_err());
        assert!(RouteAllowlist::parse(["/a/**/b"]).is_err());
        assert!(check_path("/channels/1/messages").is_ok());
        assert!(check_path("/channels/../guilds/1").is_err());
        assert!(check_path("/channels/%2E%2e/x").is_err());
        assert!(check_path("channels/1").is_err());
        assert!(check_path("/channels//1").is_err());
    }

    fn call(method: &str, path: &str) -> RestCall {
        RestCall {
            method: method.into(),
            path: path.into(),
            query: None,
            body: None,
        }
    }

    #[test]
    fn requests_are_admitted_by_the_allowlist() {
        let a = RouteAllowlist::default();
        let (method, path) = admit(
            &call(
                "PUT",
                "/api/v10/channels/2/messages/5/reactions/%F0%9F%91%8D/@me",
            ),
            &a,
        )
        .expect("allowed");
        assert_eq!(method, Method::PUT);
        assert_eq!(path, "/channels/2/messages/5/reactions/%F0%9F%91%8D/@me");
        let e = admit(&call("DELETE", "/guilds/1"), &a).expect_err("not allowed");
        assert_eq!(e.kind, ErrorKind::RouteNotAllowed);
        assert!(e.reason.contains("gateway.allowed_routes"), "{}", e.reason);
        let e = admit(&call("GET", "/channels/1%2F..%2Fguilds%2F1/messages"), &a)
            .expect_err("encoded slash");
        assert_eq!(e.kind, ErrorKind::BadPayload);
        assert!(e.reason.contains("percent-encoded"), "{}", e.reason);
        let e = admit(&call("DELETE", "/webhooks/1/SECRET-TOKEN"), &a).expect_err("not allowed");
        assert!(!e.reason.contains("SECRET"), "{}", e.reason);
        let mut q = call("POST", "/channels/1/typing");
        q.query = Some("a#b".into());
        assert_eq!(
            admit(&q, &a).expect_err("fragment").kind,
            ErrorKind::BadPayload
        );
    }

    #[test]
    fn encoded_separators_and_non_ids_are_refused() {
        let a = RouteAllowlist::default();
        for path in [
            "/channels/1%2F..%2Fguilds%2F1/messages",
            "/channels/1%2f..%2fguilds%2f1/messages",
            "/channels/1%5C..%5Cguilds/messages",
            "/channels/1%5c/messages",
        ] {
            let reason = check_path(path).expect_err(path);
            assert!(reason.contains("percent-encoded"), "{path}: {reason}");
        }
        assert!(check_path("/channels/1%zz/messages").is_err());
        assert!(check_path("/channels/1/messages/2/reactions/%F0%9F%91%8D/@me").is_ok());
        // `{id}` needs a snowflake, even when the segment is otherwise harmless
        assert!(!a.allows(&Method::POST, "/channels/abc/messages"));
        assert!(!a.allows(&Method::POST, "/channels/1..2/messages"));
        assert!(!a.allows(&Method::PATCH, "/channels/1/messages/x"));
        assert!(a.allows(&Method::POST, "/channels/381870553235193857/messages"));
        // the interaction token is any segment, the application id a snowflake
        assert!(a.allows(&Method::POST, "/interactions/7/aW50ZXI-tok_en/callback"));
        assert!(a.allows(&Method::POST, "/webhooks/7/tok"));
        assert!(a.allows(&Method::PATCH, "/webhooks/7/tok/messages/@original"));
        assert!(!a.allows(&Method::DELETE, "/webhooks/7/tok"));
        assert!(!a.allows(&Method::POST, "/webhooks/app/tok"));
        let custom = RouteAllowlist::parse(["GET /guilds/{id}/members/*"]).expect("valid");
        assert!(custom.allows(&Method::GET, "/guilds/1/members/search"));
        assert!(!custom.allows(&Method::GET, "/guilds/x/members/2"));
    }
}
