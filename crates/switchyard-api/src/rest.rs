//! The REST service: Discord REST calls with a bot's token ([`BotRest`]), any route through
//! `Request` and the common ones built from typed fields. Answers are made in `rest_reply`.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde_json::{Map, Value, json};
use switchyard_gateway::{BotRest, BotRestAnswer, BotRestRequest};
use tonic::{Request, Response, Status};

use crate::bots;
use crate::proto::rest_server::Rest;
use crate::proto::{
    ChannelTarget, CreateMessageRequest, EditMessageRequest, InteractionResponseRequest,
    MemberRoleTarget, MemberTarget, MessageTarget, ReactionTarget, RestReply, RestRequest,
};
use crate::rest_reply;

/// Every bot's REST calls on this node.
pub(crate) struct RestService {
    names: Vec<String>,
    bots: Vec<BotRest>,
}

impl RestService {
    pub(crate) fn new(bots: Vec<BotRest>) -> Self {
        RestService {
            names: bots.iter().map(|b| b.bot().to_owned()).collect(),
            bots,
        }
    }

    /// Sends `built` (or refuses what could not be built) for the bot `metadata` names.
    async fn call(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        built: Result<BotRestRequest, Status>,
    ) -> Result<Response<RestReply>, Status> {
        let bot = &self.bots[bots::pick(&self.names, metadata)?];
        let req = built.inspect_err(bad_request)?;
        let reply = match bot.send(req).await {
            Ok(BotRestAnswer::Discord(mut res)) => {
                let headers = std::mem::take(&mut res.headers);
                let (status, queued, attempts) = (res.status, res.queued, res.attempts);
                match res.bytes().await {
                    Ok(body) => rest_reply::answered(status, &headers, body, queued, attempts),
                    Err(e) => return Err(Status::unavailable(e.to_string())),
                }
            }
            Ok(BotRestAnswer::Endpoint) => rest_reply::no_content(),
            Err(e) => rest_reply::refused(e).inspect_err(|status| {
                if status.code() == tonic::Code::InvalidArgument {
                    bad_request(status);
                }
            })?,
        };
        Ok(Response::new(reply))
    }
}

/// Logs and counts a request refused as malformed.
fn bad_request(status: &Status) {
    metrics::counter!("switchyard_grpc_bad_requests_total", "service" => "rest").increment(1);
    tracing::warn!(
        message = status.message(),
        "a malformed gRPC REST call was refused"
    );
}

fn request(method: Method, path: String, body: Option<Value>) -> BotRestRequest {
    BotRestRequest {
        method,
        path,
        body: body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string())),
        ..BotRestRequest::default()
    }
}

/// A snowflake field that must be set.
fn id(field: &str, value: u64) -> Result<u64, Status> {
    match value {
        0 => Err(Status::invalid_argument(format!("{field} is required"))),
        v => Ok(v),
    }
}

/// A JSON object given as text (empty for none), its fields merged into `body`.
fn merge(field: &str, text: &str, body: &mut Map<String, Value>) -> Result<(), Status> {
    if text.is_empty() {
        return Ok(());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(extra)) => {
            body.extend(extra);
            Ok(())
        }
        Ok(_) => Err(Status::invalid_argument(format!(
            "{field} must be a JSON object"
        ))),
        Err(e) => Err(Status::invalid_argument(format!(
            "{field} is not JSON: {e}"
        ))),
    }
}

fn message_path(m: Option<&MessageTarget>) -> Result<String, Status> {
    let m = m.ok_or_else(|| Status::invalid_argument("message is required"))?;
    Ok(format!(
        "/channels/{}/messages/{}",
        id("message.channel_id", m.channel_id)?,
        id("message.message_id", m.message_id)?
    ))
}

pub(crate) fn reaction_path(r: &ReactionTarget) -> Result<String, Status> {
    if r.emoji.is_empty() {
        return Err(Status::invalid_argument("emoji is required"));
    }
    let emoji = percent_encode(&r.emoji);
    Ok(format!(
        "{}/reactions/{emoji}/@me",
        message_path(r.message.as_ref())?
    ))
}

fn member_path(m: Option<&MemberTarget>) -> Result<String, Status> {
    let m = m.ok_or_else(|| Status::invalid_argument("member is required"))?;
    Ok(format!(
        "/guilds/{}/members/{}",
        id("member.guild_id", m.guild_id)?,
        id("member.user_id", m.user_id)?
    ))
}

pub(crate) fn member_role(method: Method, r: MemberRoleTarget) -> Result<BotRestRequest, Status> {
    let path = format!(
        "{}/roles/{}",
        member_path(r.member.as_ref())?,
        id("role_id", r.role_id)?
    );
    let mut req = request(method, path, None);
    if !r.reason.is_empty() {
        let reason = HeaderValue::from_str(&percent_encode(&r.reason))
            .map_err(|_| Status::invalid_argument("reason cannot be sent as a header"))?;
        req.headers
            .insert(HeaderName::from_static("x-audit-log-reason"), reason);
    }
    Ok(req)
}

/// Percent-encodes everything but unreserved characters and `:` (an emoji's `name:id`), as
/// Discord wants emojis in paths and audit log reasons in headers.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                out.push(b as char);
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub(crate) fn general(r: RestRequest) -> Result<BotRestRequest, Status> {
    let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
        Status::invalid_argument(format!("method {:?} is not an HTTP method", r.method))
    })?;
    if !r.path.starts_with('/') {
        return Err(Status::invalid_argument(format!(
            "path {:?} must start with / (relative to /api/v10, e.g. /channels/1/messages)",
            r.path
        )));
    }
    let mut headers = HeaderMap::new();
    for (name, value) in &r.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Status::invalid_argument(format!("header name {name:?} is not valid")))?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Status::invalid_argument(format!("header {name} has a value that cannot be sent"))
        })?;
        headers.append(name, value);
    }
    Ok(BotRestRequest {
        method,
        path: r.path,
        query: Some(r.query).filter(|q| !q.is_empty()),
        headers,
        body: Bytes::from(r.body),
    })
}

pub(crate) fn create_message(r: CreateMessageRequest) -> Result<BotRestRequest, Status> {
    let channel = id("channel_id", r.channel_id)?;
    let mut body = Map::new();
    if !r.content.is_empty() {
        body.insert("content".into(), json!(r.content));
    }
    if !r.nonce.is_empty() {
        body.insert("nonce".into(), json!(r.nonce));
        body.insert("enforce_nonce".into(), json!(true));
    }
    if r.reply_to != 0 {
        let reference =
            json!({"message_id": r.reply_to.to_string(), "channel_id": channel.to_string()});
        body.insert("message_reference".into(), reference);
    }
    merge("extra_json", &r.extra_json, &mut body)?;
    let path = format!("/channels/{channel}/messages");
    Ok(request(Method::POST, path, Some(Value::Object(body))))
}

fn edit_message(r: EditMessageRequest) -> Result<BotRestRequest, Status> {
    let path = message_path(r.message.as_ref())?;
    let mut body = Map::new();
    if let Some(content) = r.content {
        body.insert("content".into(), json!(content));
    }
    merge("extra_json", &r.extra_json, &mut body)?;
    Ok(request(Method::PATCH, path, Some(Value::Object(body))))
}

pub(crate) fn interaction_response(
    r: InteractionResponseRequest,
) -> Result<BotRestRequest, Status> {
    let interaction = id("interaction_id", r.interaction_id)?;
    let token = &r.interaction_token;
    if token.is_empty()
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(Status::invalid_argument(
            "interaction_token is required and must be the interaction's token",
        ));
    }
    let mut body = Map::new();
    merge("response_json", &r.response_json, &mut body)?;
    if body.is_empty() {
        return Err(Status::invalid_argument("response_json is required"));
    }
    let path = format!("/interactions/{interaction}/{token}/callback");
    Ok(request(Method::POST, path, Some(Value::Object(body))))
}

#[tonic::async_trait]
impl Rest for RestService {
    async fn request(&self, r: Request<RestRequest>) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, general(r)).await
    }

    async fn create_message(
        &self,
        r: Request<CreateMessageRequest>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, create_message(r)).await
    }

    async fn edit_message(
        &self,
        r: Request<EditMessageRequest>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, edit_message(r)).await
    }

    async fn delete_message(
        &self,
        r: Request<MessageTarget>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        let built = message_path(Some(&r)).map(|p| request(Method::DELETE, p, None));
        self.call(&meta, built).await
    }

    async fn create_reaction(
        &self,
        r: Request<ReactionTarget>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        let built = reaction_path(&r).map(|p| request(Method::PUT, p, None));
        self.call(&meta, built).await
    }

    async fn delete_own_reaction(
        &self,
        r: Request<ReactionTarget>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        let built = reaction_path(&r).map(|p| request(Method::DELETE, p, None));
        self.call(&meta, built).await
    }

    async fn get_channel(&self, r: Request<ChannelTarget>) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        let built = id("channel_id", r.channel_id)
            .map(|c| request(Method::GET, format!("/channels/{c}"), None));
        self.call(&meta, built).await
    }

    async fn get_member(&self, r: Request<MemberTarget>) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        let built = member_path(Some(&r)).map(|p| request(Method::GET, p, None));
        self.call(&meta, built).await
    }

    async fn add_member_role(
        &self,
        r: Request<MemberRoleTarget>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, member_role(Method::PUT, r)).await
    }

    async fn remove_member_role(
        &self,
        r: Request<MemberRoleTarget>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, member_role(Method::DELETE, r)).await
    }

    async fn create_interaction_response(
        &self,
        r: Request<InteractionResponseRequest>,
    ) -> Result<Response<RestReply>, Status> {
        let (meta, _, r) = r.into_parts();
        self.call(&meta, interaction_response(r)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(guild_id: u64, user_id: u64) -> Option<MemberTarget> {
        Some(MemberTarget { guild_id, user_id })
    }

    #[test]
    fn a_member_role_call_names_its_route_and_encodes_its_reason() {
        let target = MemberRoleTarget {
            member: member(1, 2),
            role_id: 3,
            reason: "promoted: ünïcode & spaces".into(),
        };
        let req = member_role(Method::PUT, target).expect("built");
        assert_eq!(
            (req.method, req.path.as_str()),
            (Method::PUT, "/guilds/1/members/2/roles/3")
        );
        assert_eq!(
            req.headers["x-audit-log-reason"],
            "promoted:%20%C3%BCn%C3%AFcode%20%26%20spaces"
        );
        let missing = member_role(
            Method::DELETE,
            MemberRoleTarget {
                member: member(1, 0),
                role_id: 3,
                reason: String::new(),
            },
        );
        assert_eq!(
            missing.expect_err("no user").message(),
            "member.user_id is required"
        );
    }

    #[test]
    fn a_reaction_puts_its_emoji_in_the_path_encoded() {
        let target = ReactionTarget {
            message: Some(MessageTarget {
                channel_id: 5,
                message_id: 6,
            }),
            emoji: "👍".into(),
        };
        assert_eq!(
            reaction_path(&target).expect("built"),
            "/channels/5/messages/6/reactions/%F0%9F%91%8D/@me"
        );
        let custom = ReactionTarget {
            emoji: "party:123".into(),
            ..target
        };
        assert_eq!(
            reaction_path(&custom).expect("built"),
            "/channels/5/messages/6/reactions/party:123/@me"
        );
    }

    #[test]
    fn a_message_body_merges_its_extra_fields() {
        let req = create_message(CreateMessageRequest {
            channel_id: 7,
            content: "hi".into(),
            nonce: "n1".into(),
            reply_to: 8,
            extra_json: r#"{"embeds":[{"title":"t"}],"flags":4}"#.into(),
        })
        .expect("built");
        let body: Value = serde_json::from_slice(&req.body).expect("JSON");
        assert_eq!(
            body,
            json!({"content": "hi", "nonce": "n1", "enforce_nonce": true,
                "message_reference": {"message_id": "8", "channel_id": "7"},
                "embeds": [{"title": "t"}], "flags": 4})
        );
        let bad = create_message(CreateMessageRequest {
            channel_id: 7,
            extra_json: "[1]".into(),
            ..CreateMessageRequest::default()
        });
        assert_eq!(
            bad.expect_err("not an object").message(),
            "extra_json must be a JSON object"
        );
    }

    #[test]
    fn a_general_request_is_checked_before_it_is_sent() {
        let ok = general(RestRequest {
            method: "get".into(),
            path: "/users/@me".into(),
            headers: [("x-audit-log-reason".to_owned(), "why".to_owned())].into(),
            ..RestRequest::default()
        })
        .expect("built");
        assert_eq!((ok.method, ok.query), (Method::GET, None));
        for (method, path, says) in [
            ("GE T", "/users/@me", "is not an HTTP method"),
            ("GET", "users/@me", "must start with /"),
        ] {
            let r = RestRequest {
                method: method.into(),
                path: path.into(),
                ..RestRequest::default()
            };
            let status = general(r).expect_err("refused");
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(status.message().contains(says), "{status:?}");
        }
        let token = interaction_response(InteractionResponseRequest {
            interaction_id: 1,
            interaction_token: "../../x".into(),
            response_json: r#"{"type":1}"#.into(),
        });
        assert_eq!(
            token.expect_err("refused").code(),
            tonic::Code::InvalidArgument
        );
    }
}
