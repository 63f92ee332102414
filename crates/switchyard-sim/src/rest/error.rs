//! Discord-shaped REST errors and JSON responses (Content-Type exactly `application/json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A REST error as Discord reports it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// Unknown route: 404 with code 0.
    #[error("404: Not Found")]
    NotFound,
    /// Missing or bad token: 401 with code 0.
    #[error("401: Unauthorized")]
    Unauthorized,
    /// A 404 "Unknown X" with its JSON code (10003 channel, 10004 guild, 10007 member,
    /// 10008 message, 10013 user, 10062 interaction, ...).
    #[error("{1}")]
    Unknown(u32, &'static str),
    /// 50035 Invalid Form Body with nested `_errors`.
    #[error("Invalid Form Body")]
    InvalidForm(Value),
    /// 400 with a code and message (50006 empty message, 50109 invalid JSON, 40060 ...).
    #[error("{1}")]
    BadRequest(u32, &'static str),
    /// 403 with a code and message (50001 missing access, 50013 missing permissions).
    #[error("{1}")]
    Forbidden(u32, &'static str),
    /// 405 for a known path with a method it does not support.
    #[error("405: Method Not Allowed")]
    MethodNotAllowed,
    /// 413 with code 40005: the request body is over [`crate::rest::MAX_REQUEST_BODY`].
    #[error("Request entity too large")]
    TooLarge,
}

impl ApiError {
    /// A 50035 error for one field, e.g. `field_error("content", "BASE_TYPE_MAX_LENGTH", "...")`.
    /// Dotted names nest: `a.b` gives `{"a": {"b": {"_errors": [...]}}}`.
    pub fn field(path: &str, code: &str, message: &str) -> Self {
        let mut errors = json!({"_errors": [{"code": code, "message": message}]});
        for part in path.rsplit('.').filter(|p| !p.is_empty()) {
            errors = json!({ part: errors });
        }
        Self::InvalidForm(errors)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound | Self::Unknown(..) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::InvalidForm(_) | Self::BadRequest(..) => StatusCode::BAD_REQUEST,
            Self::Forbidden(..) => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> Value {
        match self {
            Self::NotFound | Self::Unauthorized | Self::MethodNotAllowed => {
                json!({"message": self.to_string(), "code": 0})
            }
            Self::Unknown(code, msg) | Self::BadRequest(code, msg) | Self::Forbidden(code, msg) => {
                json!({"message": msg, "code": code})
            }
            Self::InvalidForm(errors) => {
                json!({"message": "Invalid Form Body", "code": 50035, "errors": errors})
            }
            Self::TooLarge => json!({"message": self.to_string(), "code": 40005}),
        }
    }

    /// Unknown Channel.
    pub const UNKNOWN_CHANNEL: Self = Self::Unknown(10003, "Unknown Channel");
    /// Unknown Guild.
    pub const UNKNOWN_GUILD: Self = Self::Unknown(10004, "Unknown Guild");
    /// Unknown Member.
    pub const UNKNOWN_MEMBER: Self = Self::Unknown(10007, "Unknown Member");
    /// Unknown Role.
    pub const UNKNOWN_ROLE: Self = Self::Unknown(10011, "Unknown Role");
    /// Unknown Message.
    pub const UNKNOWN_MESSAGE: Self = Self::Unknown(10008, "Unknown Message");
    /// Unknown User.
    pub const UNKNOWN_USER: Self = Self::Unknown(10013, "Unknown User");
    /// Unknown Emoji (400 in Discord).
    pub const UNKNOWN_EMOJI: Self = Self::BadRequest(10014, "Unknown Emoji");
    /// Unknown Webhook.
    pub const UNKNOWN_WEBHOOK: Self = Self::Unknown(10015, "Unknown Webhook");
    /// Unknown interaction.
    pub const UNKNOWN_INTERACTION: Self = Self::Unknown(10062, "Unknown interaction");
    /// Interaction already acknowledged.
    pub const ALREADY_ACKNOWLEDGED: Self =
        Self::BadRequest(40060, "Interaction has already been acknowledged.");
    /// Empty message.
    pub const EMPTY_MESSAGE: Self = Self::BadRequest(50006, "Cannot send an empty message");
    /// Invalid JSON body.
    pub const INVALID_JSON: Self =
        Self::BadRequest(50109, "The request body contains invalid JSON.");
    /// Missing access.
    pub const MISSING_ACCESS: Self = Self::Forbidden(50001, "Missing Access");
}

/// A successful REST reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// 200 with a JSON body.
    Json(Value),
    /// 204 No Content.
    NoContent,
}

/// A JSON response with Content-Type exactly `application/json`.
pub fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        json_response(self.status(), &self.body())
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self {
            Self::Json(v) => json_response(StatusCode::OK, &v),
            Self::NoContent => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_form_errors() {
        let e = ApiError::field("message_reference.message_id", "X", "bad");
        assert_eq!(
            e.body()["errors"]["message_reference"]["message_id"]["_errors"][0]["code"],
            "X"
        );
        assert_eq!(e.body()["code"], 50035);
        assert_eq!(ApiError::UNKNOWN_CHANNEL.status(), StatusCode::NOT_FOUND);
    }
}
