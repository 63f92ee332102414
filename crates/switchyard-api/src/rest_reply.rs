//! How the REST service answers: Discord's response as a [`RestReply`] (a success, or a typed
//! [`RestFailure`] read from Discord's JSON error body), and the errors of calls that never
//! reached Discord as gRPC statuses.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;
use switchyard_gateway::BotRestError;
use switchyard_rest::RestError;
use tonic::Status;

use crate::proto::{
    AccessDenied, FieldError, NotFound, OtherFailure, RateLimited, RestFailure, RestReply,
    RestResponse, Validation, rest_failure, rest_reply,
};

/// Discord's code for a body it refused field by field.
const INVALID_FORM_BODY: u64 = 50035;

/// The reply to a response Discord sent.
pub(crate) fn answered(
    status: StatusCode,
    headers: &HeaderMap,
    body: Bytes,
    queued: Duration,
    attempts: u32,
) -> RestReply {
    let outcome = match status.is_success() {
        true => rest_reply::Outcome::Ok(RestResponse {
            status: status.as_u16().into(),
            body: body.to_vec(),
            headers: header_map(headers),
            queued_ms: queued.as_millis().try_into().unwrap_or(u64::MAX),
            attempts,
        }),
        false => rest_reply::Outcome::Failed(failure(status, headers, &body)),
    };
    RestReply {
        outcome: Some(outcome),
    }
}

/// A 204 answered without Discord (the interactions endpoint's HTTP answer).
pub(crate) fn no_content() -> RestReply {
    RestReply {
        outcome: Some(rest_reply::Outcome::Ok(RestResponse {
            status: 204,
            ..RestResponse::default()
        })),
    }
}

/// The reply, or status, for a call that did not get Discord's answer.
pub(crate) fn refused(error: BotRestError) -> Result<RestReply, Status> {
    let kind = match error {
        BotRestError::TooLate(reason) => rest_failure::Kind::Other(OtherFailure {
            message: reason,
            ..OtherFailure::default()
        }),
        BotRestError::Rest(RestError::RateLimited {
            retry_after,
            global,
        }) => rest_failure::Kind::RateLimited(rate_limited(retry_after, global, true, "")),
        BotRestError::Rest(e @ RestError::TokenLocked) => {
            rest_failure::Kind::AccessDenied(AccessDenied {
                status: 401,
                code: 0,
                message: e.to_string(),
            })
        }
        BotRestError::Rest(e @ RestError::InvalidRequest(_)) => {
            return Err(Status::invalid_argument(e.to_string()));
        }
        BotRestError::Rest(e) => return Err(Status::unavailable(e.to_string())),
        // a future variant: say what it was
        other => return Err(Status::internal(other.to_string())),
    };
    Ok(RestReply {
        outcome: Some(rest_reply::Outcome::Failed(RestFailure {
            kind: Some(kind),
        })),
    })
}

/// The typed failure of a non-2xx answer.
fn failure(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> RestFailure {
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = json["message"].as_str().unwrap_or_default().to_owned();
    let code = json["code"].as_u64().unwrap_or(0);
    let code32 = u32::try_from(code).unwrap_or(0);
    let kind = match status.as_u16() {
        429 => {
            let seconds = json["retry_after"]
                .as_f64()
                .or_else(|| header(headers, "retry-after")?.parse().ok())
                .unwrap_or(0.0);
            let global = json["global"].as_bool().unwrap_or(false)
                || header(headers, "x-ratelimit-global") == Some("true");
            let retry_after = Duration::try_from_secs_f64(seconds).unwrap_or_default();
            rest_failure::Kind::RateLimited(rate_limited(retry_after, global, false, &message))
        }
        400 if code == INVALID_FORM_BODY => rest_failure::Kind::Validation(Validation {
            fields: field_errors(&json["errors"]),
            message,
        }),
        404 => rest_failure::Kind::NotFound(NotFound {
            code: code32,
            message,
        }),
        s @ (401 | 403) => rest_failure::Kind::AccessDenied(AccessDenied {
            status: s.into(),
            code: code32,
            message,
        }),
        s => rest_failure::Kind::Other(OtherFailure {
            status: s.into(),
            code: code32,
            message,
            body: body.to_vec(),
        }),
    };
    RestFailure { kind: Some(kind) }
}

fn rate_limited(retry_after: Duration, global: bool, local: bool, message: &str) -> RateLimited {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    RateLimited {
        global,
        retry_after_ms: ms(retry_after),
        retry_at_unix_ms: ms(now.saturating_add(retry_after)),
        local,
        message: message.to_owned(),
    }
}

/// Discord's nested `errors` object flattened: each `_errors` array's entries with the
/// dotted path that leads to it (`embeds.0.title`).
fn field_errors(errors: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    walk(errors, &mut String::new(), &mut out);
    out
}

fn walk(node: &Value, path: &mut String, out: &mut Vec<FieldError>) {
    let Value::Object(fields) = node else {
        return;
    };
    for (key, value) in fields {
        if key == "_errors" {
            for e in value.as_array().into_iter().flatten() {
                out.push(FieldError {
                    path: path.clone(),
                    code: e["code"].as_str().unwrap_or_default().to_owned(),
                    message: e["message"].as_str().unwrap_or_default().to_owned(),
                });
            }
            continue;
        }
        let len = path.len();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
        walk(value, path, out);
        path.truncate(len);
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok()
}

/// Headers as text, values of one name joined with `, `; values that are not text are left
/// out.
fn header_map(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else { continue };
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kind(status: u16, body: Value) -> rest_failure::Kind {
        let status = StatusCode::from_u16(status).expect("a status");
        let body = body.to_string();
        failure(status, &HeaderMap::new(), body.as_bytes())
            .kind
            .expect("a kind")
    }

    #[test]
    fn an_invalid_form_body_names_each_field_by_its_path() {
        let body = json!({"message": "Invalid Form Body", "code": 50035, "errors": {
            "content": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]},
            "embeds": {"0": {"title": {"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]}}}
        }});
        let rest_failure::Kind::Validation(v) = kind(400, body) else {
            panic!("not a validation failure");
        };
        assert_eq!(v.message, "Invalid Form Body");
        let fields: Vec<(&str, &str)> = v
            .fields
            .iter()
            .map(|f| (f.path.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("content", "BASE_TYPE_MAX_LENGTH"),
                ("embeds.0.title", "BASE_TYPE_REQUIRED")
            ]
        );
    }

    #[test]
    fn discords_429_says_when_to_retry_and_whether_it_is_global() {
        let body =
            json!({"message": "You are being rate limited.", "retry_after": 1.5, "global": true});
        let rest_failure::Kind::RateLimited(r) = kind(429, body) else {
            panic!("not a rate limit");
        };
        assert!(r.global && !r.local);
        assert_eq!(r.retry_after_ms, 1500);
        assert!(r.retry_at_unix_ms > 1_500);
    }

    #[test]
    fn statuses_map_to_their_kinds_with_discords_code() {
        let unknown = json!({"message": "Unknown Channel", "code": 10003});
        assert!(matches!(
            kind(404, unknown),
            rest_failure::Kind::NotFound(NotFound { code: 10003, .. })
        ));
        let missing = json!({"message": "Missing Permissions", "code": 50013});
        assert!(matches!(
            kind(403, missing),
            rest_failure::Kind::AccessDenied(AccessDenied {
                status: 403,
                code: 50013,
                ..
            })
        ));
        // a 400 that is not 50035, and a body that is not JSON
        let rest_failure::Kind::Other(o) = kind(
            400,
            json!({"message": "Cannot send an empty message", "code": 50006}),
        ) else {
            panic!("not other");
        };
        assert_eq!((o.status, o.code), (400, 50006));
        let odd = failure(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>");
        assert!(matches!(
            odd.kind,
            Some(rest_failure::Kind::Other(OtherFailure {
                status: 502,
                code: 0,
                ..
            }))
        ));
    }

    #[test]
    fn the_proxys_own_refusals_are_typed_too() {
        let limited = refused(BotRestError::Rest(RestError::RateLimited {
            retry_after: Duration::from_millis(250),
            global: false,
        }));
        let Ok(RestReply {
            outcome:
                Some(rest_reply::Outcome::Failed(RestFailure {
                    kind: Some(rest_failure::Kind::RateLimited(r)),
                })),
        }) = limited
        else {
            panic!("not a rate limit: {limited:?}");
        };
        assert!(r.local && r.retry_after_ms == 250);
        let bad = refused(BotRestError::Rest(RestError::InvalidRequest(
            "bad path".into(),
        )));
        assert_eq!(
            bad.expect_err("a status").code(),
            tonic::Code::InvalidArgument
        );
    }
}
