//! Shared by the gRPC tests: `switchyard run` with its gRPC listener behind a token, a tonic
//! channel to it, and the bearer token its calls carry.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::transport::{Channel, Endpoint};

use switchyard_sim::SimHandle;
use switchyard_testkit::free_port;

use crate::cache_common::Run;

/// `switchyard run` with its gRPC listener, and a channel to it.
pub struct GrpcRun {
    pub run: Run,
    /// The listener's address, `127.0.0.1:port`.
    pub addr: String,
    pub channel: Channel,
    _dir: tempfile::TempDir,
}

/// Starts `switchyard run` against `sim` as the bot of `bot`, its gRPC listener on a free
/// port requiring `token`, its cache (with every intent) on when `cache`; returns once the
/// listener accepts.
pub async fn start(sim: &SimHandle, name: &str, bot: &str, token: &str, cache: bool) -> GrpcRun {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = format!("127.0.0.1:{}", free_port());
    let mut settings = vec![
        ("SWITCHYARD_GRPC_ENABLED", "true"),
        ("SWITCHYARD_GRPC_BIND", addr.as_str()),
        ("SWITCHYARD_GRPC_TOKEN", token),
    ];
    if cache {
        settings.push(("SWITCHYARD_GATEWAY_CACHE", "{ enabled = true }"));
        settings.push(("SWITCHYARD_GATEWAY_INTENTS", r#"["ALL"]"#));
    }
    let run = Run::start(sim, dir.path(), name, bot, &settings);
    let channel = connect(&addr, &run).await;
    GrpcRun {
        run,
        addr,
        channel,
        _dir: dir,
    }
}

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
