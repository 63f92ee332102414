//! The REST route table: which method and path is which route, its rate-limit bucket and
//! major parameter, and whether it needs a bot token.

use axum::http::Method;

use crate::rest::error::ApiError;

/// The routes the sim serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// GET /gateway
    Gateway,
    /// GET /gateway/bot
    GatewayBot,
    /// GET /users/@me
    Me,
    /// GET /users/@me/guilds
    MyGuilds,
    /// POST /users/@me/channels
    CreateDm,
    /// GET /users/{u}
    GetUser,
    /// GET /oauth2/applications/@me and /applications/@me
    Application,
    /// GET /channels/{c}
    GetChannel,
    /// GET /channels/{c}/messages
    ListMessages,
    /// POST /channels/{c}/messages
    CreateMessage,
    /// GET /channels/{c}/messages/{m}
    GetMessage,
    /// PATCH /channels/{c}/messages/{m}
    EditMessage,
    /// DELETE /channels/{c}/messages/{m}
    DeleteMessage,
    /// POST /channels/{c}/messages/bulk-delete
    BulkDelete,
    /// POST /channels/{c}/typing
    Typing,
    /// PUT /channels/{c}/messages/{m}/reactions/{e}/@me
    AddReaction,
    /// DELETE /channels/{c}/messages/{m}/reactions/{e}/{u or @me}
    RemoveReaction,
    /// GET /channels/{c}/messages/{m}/reactions/{e}
    ListReactions,
    /// DELETE /channels/{c}/messages/{m}/reactions
    RemoveAllReactions,
    /// DELETE /channels/{c}/messages/{m}/reactions/{e}
    RemoveEmojiReactions,
    /// GET /guilds/{g}
    GetGuild,
    /// GET /guilds/{g}/channels
    GuildChannels,
    /// GET /guilds/{g}/members
    GuildMembers,
    /// GET /guilds/{g}/members/{u}
    GuildMember,
    /// PUT or GET /applications/{a}/commands
    Commands,
    /// PUT or GET /applications/{a}/guilds/{g}/commands
    GuildCommands,
    /// POST /interactions/{id}/{token}/callback
    InteractionCallback,
    /// POST /webhooks/{a}/{token}
    WebhookExecute,
    /// GET, PATCH, DELETE /webhooks/{a}/{token}/messages/{m or @original}
    WebhookMessage,
}

/// A resolved route: its kind, its path arguments, its bucket and limit.
#[derive(Debug, Clone)]
pub struct Route<'a> {
    /// Which route.
    pub kind: RouteKind,
    /// Path arguments in order.
    pub args: Vec<&'a str>,
    /// Bucket name (route template).
    pub bucket: String,
    /// Major parameter value.
    pub major: String,
    /// Whether a bot token is required.
    pub auth: bool,
    /// Whether the global limit does not apply.
    pub global_exempt: bool,
}

type Matched<'a> = (RouteKind, Vec<&'a str>, &'static str);

fn lookup<'a>(m: &str, segs: &[&'a str]) -> Option<Matched<'a>> {
    use RouteKind as K;
    Some(match (m, segs) {
        ("GET", ["gateway"]) => (K::Gateway, vec![], "gateway"),
        ("GET", ["gateway", "bot"]) => (K::GatewayBot, vec![], "gateway/bot"),
        ("GET", ["users", "@me"]) => (K::Me, vec![], "users/@me"),
        ("GET", ["users", "@me", "guilds"]) => (K::MyGuilds, vec![], "users/@me/guilds"),
        ("POST", ["users", "@me", "channels"]) => (K::CreateDm, vec![], "users/@me/channels"),
        ("GET", ["users", u]) => (K::GetUser, vec![*u], "users/{u}"),
        ("GET", ["oauth2", "applications", "@me"] | ["applications", "@me"]) => {
            (K::Application, vec![], "applications/@me")
        }
        ("GET", ["channels", c]) => (K::GetChannel, vec![*c], "channels/{c}"),
        ("GET", ["channels", c, "messages"]) => {
            (K::ListMessages, vec![*c], "channels/{c}/messages")
        }
        ("POST", ["channels", c, "messages"]) => {
            (K::CreateMessage, vec![*c], "channels/{c}/messages")
        }
        ("POST", ["channels", c, "messages", "bulk-delete"]) => {
            (K::BulkDelete, vec![*c], "channels/{c}/messages/bulk-delete")
        }
        ("GET", ["channels", c, "messages", id]) => {
            (K::GetMessage, vec![*c, *id], "channels/{c}/messages/{m}")
        }
        ("PATCH", ["channels", c, "messages", id]) => {
            (K::EditMessage, vec![*c, *id], "channels/{c}/messages/{m}")
        }
        ("DELETE", ["channels", c, "messages", id]) => {
            (K::DeleteMessage, vec![*c, *id], "channels/{c}/messages/{m}")
        }
        ("POST", ["channels", c, "typing"]) => (K::Typing, vec![*c], "channels/{c}/typing"),
        ("PUT", ["channels", c, "messages", id, "reactions", e, "@me"]) => {
            (K::AddReaction, vec![*c, *id, *e], "reactions")
        }
        ("DELETE", ["channels", c, "messages", id, "reactions", e, u]) => {
            (K::RemoveReaction, vec![*c, *id, *e, *u], "reactions")
        }
        ("GET", ["channels", c, "messages", id, "reactions", e]) => {
            (K::ListReactions, vec![*c, *id, *e], "reactions")
        }
        ("DELETE", ["channels", c, "messages", id, "reactions"]) => {
            (K::RemoveAllReactions, vec![*c, *id], "reactions")
        }
        ("DELETE", ["channels", c, "messages", id, "reactions", e]) => {
            (K::RemoveEmojiReactions, vec![*c, *id, *e], "reactions")
        }
        ("GET", ["guilds", g]) => (K::GetGuild, vec![*g], "guilds/{g}"),
        ("GET", ["guilds", g, "channels"]) => (K::GuildChannels, vec![*g], "guilds/{g}/channels"),
        ("GET", ["guilds", g, "members"]) => (K::GuildMembers, vec![*g], "guilds/{g}/members"),
        ("GET", ["guilds", g, "members", u]) => {
            (K::GuildMember, vec![*g, *u], "guilds/{g}/members/{u}")
        }
        ("GET" | "PUT", ["applications", a, "commands"]) => {
            (K::Commands, vec![*a], "applications/{a}/commands")
        }
        ("GET" | "PUT", ["applications", a, "guilds", g, "commands"]) => (
            K::GuildCommands,
            vec![*a, *g],
            "applications/{a}/guilds/{g}/commands",
        ),
        ("POST", ["interactions", id, token, "callback"]) => (
            K::InteractionCallback,
            vec![*id, *token],
            "interactions/{i}/{t}/callback",
        ),
        ("POST", ["webhooks", a, token]) => {
            (K::WebhookExecute, vec![*a, *token], "webhooks/{a}/{t}")
        }
        ("GET" | "PATCH" | "DELETE", ["webhooks", a, token, "messages", id]) => (
            K::WebhookMessage,
            vec![*a, *token, *id],
            "webhooks/{a}/{t}/messages/{m}",
        ),
        _ => return None,
    })
}

/// Matches a method and path (after `/api/vN/`) to a route; `Err(MethodNotAllowed)` for a
/// known path with another method, `Err(NotFound)` for an unknown path.
pub fn resolve<'a>(method: &Method, segs: &[&'a str]) -> Result<Route<'a>, ApiError> {
    use RouteKind as K;
    let m = method.as_str();
    let Some((kind, args, template)) = lookup(m, segs) else {
        let known = ["GET", "POST", "PUT", "DELETE", "PATCH"]
            .iter()
            .any(|m| lookup(m, segs).is_some());
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
    let no_auth = matches!(
        kind,
        K::Gateway | K::InteractionCallback | K::WebhookExecute | K::WebhookMessage
    );
    Ok(Route {
        kind,
        args,
        bucket: if template == "reactions" {
            template.to_owned()
        } else {
            format!("{m} {template}")
        },
        major,
        auth: !no_auth,
        global_exempt: kind == K::InteractionCallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve_with_major_parameters() {
        let r = resolve(&Method::POST, &["channels", "5", "messages"]).expect("route");
        assert_eq!(
            (r.kind, r.major.as_str(), r.auth),
            (RouteKind::CreateMessage, "5", true)
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
        assert!(!r.auth && r.global_exempt);
        assert_eq!(
            resolve(&Method::GET, &["nope"]).map(|r| r.kind),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            resolve(&Method::PUT, &["users", "@me"]).map(|r| r.kind),
            Err(ApiError::MethodNotAllowed)
        );
    }
}
