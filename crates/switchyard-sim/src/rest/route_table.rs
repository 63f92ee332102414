//! The REST route table: every route the fake serves, as a method and a path pattern mapped
//! to its handler (one function per route), its rate-limit bucket and limit, and whether it
//! needs a bot token; and the lookup of a request in it, with its major parameter.

use axum::http::Method;

use crate::rest::error::{ApiError, Reply};
use crate::rest::request::Ctx;
use crate::rest::{channels, guild_parts, guilds, interactions, reactions};

/// What serves a route: one function per route.
pub type Handler = fn(&Ctx<'_>) -> Result<Reply, ApiError>;

/// Which configured limit a route's bucket has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitClass {
    /// [`crate::config::RateLimits::message_create`].
    MessageCreate,
    /// [`crate::config::RateLimits::reactions`].
    Reactions,
    /// [`crate::config::RateLimits::default_route`].
    Default,
}

/// One route: a method and a path pattern (after `/api/vN/`), whose `{x}` segments match any
/// one segment and are the handler's arguments, in order.
#[derive(Clone, Copy)]
pub struct Route {
    /// The method, e.g. `GET`.
    pub method: &'static str,
    /// The path pattern, e.g. `channels/{c}/messages/{m}`.
    pub path: &'static str,
    /// The rate-limit bucket's name when it is not `"{method} {path}"`.
    bucket: Option<&'static str>,
    /// The limit of its bucket.
    pub limit: LimitClass,
    /// Whether a bot token is required.
    pub auth: bool,
    /// Whether the global limit does not apply.
    pub global_exempt: bool,
    /// The handler.
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

const fn route(method: &'static str, path: &'static str, handler: Handler) -> Route {
    Route {
        method,
        path,
        bucket: None,
        limit: LimitClass::Default,
        auth: true,
        global_exempt: false,
        handler,
    }
}

const fn get(path: &'static str, handler: Handler) -> Route {
    route("GET", path, handler)
}

const fn post(path: &'static str, handler: Handler) -> Route {
    route("POST", path, handler)
}

const fn put(path: &'static str, handler: Handler) -> Route {
    route("PUT", path, handler)
}

const fn patch(path: &'static str, handler: Handler) -> Route {
    route("PATCH", path, handler)
}

const fn delete(path: &'static str, handler: Handler) -> Route {
    route("DELETE", path, handler)
}

impl Route {
    /// Served without an Authorization header.
    const fn no_auth(mut self) -> Self {
        self.auth = false;
        self
    }

    /// Not counted against the global limit.
    const fn global_exempt(mut self) -> Self {
        self.global_exempt = true;
        self
    }

    /// Limited as message creation.
    const fn message_create(mut self) -> Self {
        self.limit = LimitClass::MessageCreate;
        self
    }

    /// In the one `reactions` bucket every reaction route shares, with the reactions limit.
    const fn reactions(mut self) -> Self {
        self.bucket = Some("reactions");
        self.limit = LimitClass::Reactions;
        self
    }

    /// In the bucket of another path (an alias of a route).
    const fn bucket(mut self, bucket: &'static str) -> Self {
        self.bucket = Some(bucket);
        self
    }

    /// The path arguments when `segs` fits the pattern.
    fn matches<'a>(&self, segs: &[&'a str]) -> Option<Vec<&'a str>> {
        let mut args = Vec::new();
        let mut pattern = self.path.split('/');
        for seg in segs {
            let part = pattern.next()?;
            if part.starts_with('{') {
                args.push(*seg);
            } else if part != *seg {
                return None;
            }
        }
        pattern.next().is_none().then_some(args)
    }
}

/// Every route, first match wins (a literal segment is listed before a pattern that would
/// also match it, e.g. `users/@me` before `users/{u}`).
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    get("gateway", guilds::gateway).no_auth(),
    get("gateway/bot", guilds::gateway_bot),
    get("users/@me", guilds::me),
    get("users/@me/guilds", guilds::my_guilds),
    post("users/@me/channels", guilds::create_dm),
    get("users/{u}", guilds::get_user),
    get("oauth2/applications/@me", guilds::application).bucket("GET applications/@me"),
    get("applications/@me", guilds::application),
    get("channels/{c}", channels::get_channel),
    get("channels/{c}/messages", channels::list_messages),
    post("channels/{c}/messages", channels::create_message).message_create(),
    post("channels/{c}/messages/bulk-delete", channels::bulk_delete),
    get("channels/{c}/messages/{m}", channels::get_message),
    patch("channels/{c}/messages/{m}", channels::edit_message),
    delete("channels/{c}/messages/{m}", channels::delete_message),
    post("channels/{c}/typing", channels::typing),
    put("channels/{c}/messages/{m}/reactions/{e}/@me", reactions::add).reactions(),
    delete("channels/{c}/messages/{m}/reactions/{e}/{u}", reactions::remove).reactions(),
    get("channels/{c}/messages/{m}/reactions/{e}", reactions::list).reactions(),
    delete("channels/{c}/messages/{m}/reactions", reactions::remove_all).reactions(),
    delete("channels/{c}/messages/{m}/reactions/{e}", reactions::remove_emoji).reactions(),
    get("guilds/{g}", guilds::get_guild),
    get("guilds/{g}/channels", guilds::guild_channels),
    get("guilds/{g}/members", guilds::guild_members),
    get("guilds/{g}/members/search", guild_parts::search_members),
    get("guilds/{g}/members/{u}", guilds::guild_member),
    get("guilds/{g}/roles", guild_parts::roles),
    get("guilds/{g}/roles/{r}", guild_parts::role),
    get("guilds/{g}/emojis", guild_parts::none),
    get("guilds/{g}/stickers", guild_parts::none),
    get("guilds/{g}/threads/active", guild_parts::active_threads),
    get("applications/{a}/commands", interactions::global_commands),
    put("applications/{a}/commands", interactions::overwrite_global_commands),
    get("applications/{a}/guilds/{g}/commands", interactions::guild_commands),
    put("applications/{a}/guilds/{g}/commands", interactions::overwrite_guild_commands),
    post("interactions/{i}/{t}/callback", interactions::callback).no_auth().global_exempt(),
    post("webhooks/{a}/{t}", interactions::execute_webhook).no_auth(),
    get("webhooks/{a}/{t}/messages/{m}", interactions::get_webhook_message).no_auth(),
    patch("webhooks/{a}/{t}/messages/{m}", interactions::edit_webhook_message).no_auth(),
    delete("webhooks/{a}/{t}/messages/{m}", interactions::delete_webhook_message).no_auth(),
];

/// A request matched to its route.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    /// The route.
    pub route: &'static Route,
    /// Path arguments in order.
    pub args: Vec<&'a str>,
    /// Bucket name (route template).
    pub bucket: String,
    /// Major parameter value.
    pub major: String,
}

/// Matches a method and path (after `/api/vN/`) to a route; `Err(MethodNotAllowed)` for a
/// known path with another method, `Err(NotFound)` for an unknown path.
pub fn resolve<'a>(method: &Method, segs: &[&'a str]) -> Result<Resolved<'a>, ApiError> {
    let m = method.as_str();
    let found = ROUTES
        .iter()
        .filter(|r| r.method == m)
        .find_map(|r| r.matches(segs).map(|args| (r, args)));
    let Some((route, args)) = found else {
        let known = ROUTES.iter().any(|r| r.matches(segs).is_some());
        return Err(if known {
            ApiError::MethodNotAllowed
        } else {
            ApiError::NotFound
        });
    };
    let major = match segs {
        ["channels" | "guilds", id, ..] => (*id).to_owned(),
        ["webhooks", a, t, ..] => format!("{a}:{t}"),
        ["interactions", id, t, ..] => format!("{id}:{t}"),
        _ => String::new(),
    };
    let bucket = route
        .bucket
        .map_or_else(|| format!("{m} {}", route.path), str::to_owned);
    Ok(Resolved {
        route,
        args,
        bucket,
        major,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_major_parameters() {
        let r = resolve(&Method::POST, &["channels", "5", "messages"]).expect("route");
        assert_eq!(
            (r.route.path, r.major.as_str(), r.route.auth),
            ("channels/{c}/messages", "5", true)
        );
        let r = resolve(
            &Method::PUT,
            &[
                "channels",
                "5",
                "messages",
                "6",
                "reactions",
                "%F0%9F%91%8D",
                "@me",
            ],
        )
        .expect("route");
        assert_eq!(r.bucket, "reactions");
        let r = resolve(&Method::POST, &["interactions", "1", "tok", "callback"]).expect("route");
        assert!(!r.route.auth && r.route.global_exempt);
        assert_eq!(
            resolve(&Method::GET, &["nope"]).map(|r| r.route.path),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            resolve(&Method::PUT, &["users", "@me"]).map(|r| r.route.path),
            Err(ApiError::MethodNotAllowed)
        );
    }
}
