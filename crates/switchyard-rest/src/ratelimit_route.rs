//! Classifies a request path into what the limiter needs: the route key under which buckets
//! are learned, the major parameter, the special buckets clients know (reactions, deleting old
//! messages), and the exemptions (interaction callbacks, webhook-token routes).
//!
//! Tokens that appear in paths (webhooks, interactions) are replaced by a hash everywhere the
//! route is kept or shown, so they never reach Redis keys, metrics or logs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Discord's epoch (2015-01-01) in milliseconds since the Unix epoch.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;
/// Messages older than this are deleted through their own bucket.
const OLD_MESSAGE_MS: u64 = 14 * 24 * 3600 * 1000;
/// Longest segment kept verbatim in a route label (longer ones are hidden).
const MAX_SEGMENT: usize = 32;
/// Most segments kept in a route label.
const MAX_SEGMENTS: usize = 10;

/// What the limiter knows about one request's route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    /// The route key: method and path template, e.g. `POST /channels/{id}/messages`. Buckets
    /// are learned per key; reaction routes share one key whatever their method.
    pub key: String,
    /// The major parameter: `channels/1`, `guilds/2`, `webhooks/3/<token hash>`, or empty.
    pub major: String,
    /// Interaction callbacks do not count toward the global limit.
    pub global_exempt: bool,
    /// The route carries its own token (webhooks with a token, interaction callbacks), so it
    /// needs no Authorization header.
    pub token_route: bool,
}

fn hash_token(token: &str) -> String {
    format!(
        "{:012x}",
        xxhash_rust::xxh3::xxh3_64(token.as_bytes()) >> 16
    )
}

/// Whether a path segment is a Discord id (a snowflake: 1 to 20 ASCII digits).
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether routes under this first segment carry a token as their third segment
/// (`/webhooks/{id}/{token}…`, `/interactions/{id}/{token}/callback`).
fn carries_token(first: &str) -> bool {
    matches!(first, "webhooks" | "interactions")
}

/// `path` (with or without `/api[/vN]` and a query) with the token of a webhook or
/// interaction route replaced by `{token}`, for logs and error reports: the token alone lets
/// anyone answer as the bot. Other paths come back unchanged.
pub fn redact_token(path: &str) -> std::borrow::Cow<'_, str> {
    let bare = path.split('?').next().unwrap_or(path);
    let route = api_path(bare).unwrap_or(bare);
    let mut segs = route.split('/').filter(|s| !s.is_empty());
    let (Some(first), Some(_id), Some(token)) = (segs.next(), segs.next(), segs.next()) else {
        return std::borrow::Cow::Borrowed(path);
    };
    if !carries_token(first) {
        return std::borrow::Cow::Borrowed(path);
    }
    // `token` is a slice of `path`: its offset says where to cut.
    let start = token.as_ptr() as usize - path.as_ptr() as usize;
    let end = start + token.len();
    std::borrow::Cow::Owned(format!("{}{{token}}{}", &path[..start], &path[end..]))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Whether a message id is older than 14 days (by its snowflake timestamp).
pub fn is_old_message(id: &str) -> bool {
    let Ok(id) = id.parse::<u64>() else {
        return false;
    };
    let created = (id >> 22) + DISCORD_EPOCH_MS;
    now_ms().saturating_sub(created) > OLD_MESSAGE_MS
}

/// Strips `/api` and an optional `/vN` from a request path; `None` when the path is not under
/// `/api`.
pub fn api_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api")?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let trimmed = rest.trim_start_matches('/');
    let version = trimmed.split('/').next().unwrap_or("");
    let is_version = version.len() > 1
        && version.starts_with('v')
        && version[1..].bytes().all(|b| b.is_ascii_digit());
    Some(if is_version {
        &trimmed[version.len()..]
    } else {
        rest
    })
}

impl RouteInfo {
    /// Classifies `method` and `path` (the path after `/api[/vN]`, e.g. `/channels/1/messages`).
    pub fn classify(method: &str, path: &str) -> Self {
        let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let major = match segs.as_slice() {
            ["channels" | "guilds", id, ..] => format!("{}/{id}", segs[0]),
            ["webhooks", id, token, ..] => format!("webhooks/{id}/{}", hash_token(token)),
            ["webhooks", id] => format!("webhooks/{id}"),
            ["interactions", id, ..] => format!("interactions/{id}"),
            _ => String::new(),
        };
        let token_route = matches!(
            segs.as_slice(),
            ["webhooks", _, _, ..] | ["interactions", _, _, "callback"]
        );
        let global_exempt = matches!(segs.as_slice(), ["interactions", _, _, "callback"]);
        let key = match segs.as_slice() {
            ["channels", _, "messages", _, "reactions", ..] => {
                "* /channels/{id}/messages/{id}/reactions".to_owned()
            }
            ["channels", _, "messages", m] if method == "DELETE" && is_old_message(m) => {
                "DELETE /channels/{id}/messages/{id} (older than 14 days)".to_owned()
            }
            _ => {
                let mut key = String::with_capacity(path.len() + 8);
                key.push_str(method);
                key.push(' ');
                for (i, seg) in segs.iter().take(MAX_SEGMENTS).enumerate() {
                    key.push('/');
                    let token_slot = i == 2 && carries_token(segs[0]);
                    if token_slot {
                        key.push_str("{token}");
                    } else if is_id(seg) {
                        key.push_str("{id}");
                    } else if seg.len() > MAX_SEGMENT || !seg.bytes().all(is_label_byte) {
                        key.push_str("{x}");
                    } else {
                        key.push_str(seg);
                    }
                }
                if segs.len() > MAX_SEGMENTS {
                    key.push_str("/…");
                }
                key
            }
        };
        RouteInfo {
            key,
            major,
            global_exempt,
            token_route,
        }
    }
}

fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'@' | b'.')
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_are_redacted_from_paths() {
        use super::redact_token;
        assert_eq!(
            redact_token("/webhooks/7/SECRET-tok/messages/@original"),
            "/webhooks/7/{token}/messages/@original"
        );
        assert_eq!(
            redact_token("/api/v10/interactions/7/SECRET/callback"),
            "/api/v10/interactions/7/{token}/callback"
        );
        assert_eq!(
            redact_token("/webhooks/7/SECRET?wait=true"),
            "/webhooks/7/{token}?wait=true"
        );
        assert_eq!(redact_token("/webhooks/7"), "/webhooks/7");
        assert_eq!(redact_token("/channels/1/messages"), "/channels/1/messages");
    }

    use super::*;

    #[test]
    fn api_prefixes() {
        assert_eq!(api_path("/api/v10/channels/1"), Some("/channels/1"));
        assert_eq!(api_path("/api/channels/1"), Some("/channels/1"));
        assert_eq!(api_path("/api/v9/users/@me"), Some("/users/@me"));
        assert_eq!(api_path("/api"), Some(""));
        assert_eq!(api_path("/apix/v10"), None);
        assert_eq!(api_path("/other"), None);
    }

    #[test]
    fn majors_templates_and_special_buckets() {
        let r = RouteInfo::classify("POST", "/channels/123/messages");
        assert_eq!(r.key, "POST /channels/{id}/messages");
        assert_eq!(r.major, "channels/123");
        let a = RouteInfo::classify("PUT", "/channels/1/messages/2/reactions/%F0%9F%91%8D/@me");
        let b = RouteInfo::classify("DELETE", "/channels/1/messages/9/reactions/x:1/55");
        assert_eq!(
            (a.key.as_str(), a.major.as_str()),
            (b.key.as_str(), "channels/1")
        );
        // a message id from 2016 is old; one minted now is not
        let old = RouteInfo::classify("DELETE", "/channels/1/messages/175928847299117063");
        let fresh_id = ((now_ms() - DISCORD_EPOCH_MS) << 22).to_string();
        let fresh = RouteInfo::classify("DELETE", &format!("/channels/1/messages/{fresh_id}"));
        assert_ne!(old.key, fresh.key);
        assert_eq!(fresh.key, "DELETE /channels/{id}/messages/{id}");
        let w = RouteInfo::classify("POST", "/webhooks/5/secret-token-abc");
        assert!(w.token_route && !w.global_exempt);
        assert!(!w.major.contains("secret") && !w.key.contains("secret"));
        let cb = RouteInfo::classify("POST", "/interactions/7/tok/callback");
        assert!(cb.token_route && cb.global_exempt && !cb.key.contains("tok/"));
        let weird = RouteInfo::classify("GET", "/some/unknown/%00route");
        assert_eq!(weird.key, "GET /some/unknown/{x}");
    }
}
