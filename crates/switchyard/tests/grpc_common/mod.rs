//! Shared by the gRPC tests: a tonic channel to `switchyard run`'s listener, and the bearer
//! token its calls carry.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use crate::cache_common::Run;

/// Adds `authorization: Bearer {token}` to every call.
#[derive(Clone)]
pub struct Bearer(pub &'static str);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        let value: MetadataValue<_> = format!("Bearer {}", self.0).parse().expect("ASCII");
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// A channel to the listener on `addr`, once it accepts (within 60 s).
pub async fn connect(addr: &str, run: &Run) -> Channel {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let endpoint = Endpoint::from_shared(format!("http://{addr}")).expect("URL");
        match endpoint.connect().await {
            Ok(channel) => return channel,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the gRPC listener never came up: {e}\n{}",
                run.output()
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
