//! The bearer token every call must carry when the listener has one.

use subtle::ConstantTimeEq as _;
use tonic::{Request, Status};

/// Checks `authorization: Bearer <token>` on each call (nothing when no token is set).
#[derive(Clone)]
pub(crate) struct TokenCheck {
    token: Option<std::sync::Arc<str>>,
}

impl TokenCheck {
    pub(crate) fn new(token: Option<&str>) -> Self {
        TokenCheck {
            token: token.map(Into::into),
        }
    }
}

impl tonic::service::Interceptor for TokenCheck {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        let Some(expected) = &self.token else {
            return Ok(request);
        };
        let given = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(expected.as_bytes())));
        if ok {
            return Ok(request);
        }
        metrics::counter!("switchyard_grpc_unauthenticated_total").increment(1);
        tracing::warn!(
            given = given.is_some(),
            "a gRPC call without the right token was refused"
        );
        Err(Status::unauthenticated(if given.is_some() {
            "wrong token: send the listener's grpc.token as `authorization: Bearer <token>`"
        } else {
            "this listener requires a token: send `authorization: Bearer <token>` (grpc.token)"
        }))
    }
}
