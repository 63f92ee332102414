//! `switchyard rest-proxy`: the Discord REST proxy (every route forwarded, rate limited so that
//! Discord never answers 429), with the admin listener, until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_rest::{RestClient, WaitMode};

use crate::admin;
use crate::cli::RestProxyArgs;
use crate::config::Config;
use crate::redact::redact_url;

pub async fn run(mut config: Config, args: RestProxyArgs) -> anyhow::Result<ExitCode> {
    let rest = &mut config.rest;
    if let Some(port) = args.port {
        rest.process.port = port;
    }
    if let Some(bind) = args.bind {
        rest.process.bind = bind;
    }
    if let Some(upstream) = args.upstream {
        rest.config.upstream = upstream;
    }
    if let Some(redis) = args.redis {
        rest.config.redis = Some(redis);
    }
    if args.fail_fast {
        rest.config.wait = WaitMode::FailFast;
    }
    if let Some(addr) = args.admin {
        config.admin.bind = addr;
    }
    config
        .rest
        .validate()
        .context("invalid rest-proxy options")?;
    let rest = &config.rest;
    let metrics = admin::install_metrics()?;
    let client = RestClient::new(rest.config.clone())
        .await
        .with_context(|| match &rest.config.redis {
            Some(url) => format!(
                "cannot start the REST limiter (rest.redis = {})",
                redact_url(url)
            ),
            None => "cannot start the REST client".to_owned(),
        })?;
    let listener = tokio::net::TcpListener::bind((rest.process.bind, rest.process.port))
        .await
        .with_context(|| {
            format!(
                "cannot bind the REST proxy on {}:{} (rest.port / --port)",
                rest.process.bind, rest.process.port
            )
        })?;
    let addr = listener.local_addr().context("proxy address")?;
    let status_client = client.clone();
    let upstream = redact_url(&rest.config.upstream);
    let status_upstream = upstream.clone();
    let status: admin::StatusFn = Arc::new(move || {
        serde_json::json!({
            "rest_proxy": {
                "upstream": status_upstream,
                "limiter": status_client.limiter().stats(),
            }
        })
    });
    let admin_addr = admin::serve(
        &config.admin,
        "rest-proxy",
        metrics,
        status,
        admin::Parts {
            ready: Some(admin::upstream_probe(&rest.config.upstream)),
            limiter: Some(client.limiter().clone()),
            ..Default::default()
        },
    )
    .await?;
    // The first line on stdout is the address, for scripts and tests.
    println!(
        "switchyard rest-proxy: http://{addr}/api/v10 -> {upstream}, admin on http://{admin_addr}"
    );
    switchyard_rest::serve_proxy(
        listener,
        client,
        config.rest.process.secret.clone(),
        super::broker::shutdown_signal(),
    )
    .await
    .context("the REST proxy stopped")?;
    tracing::info!("shutting down");
    Ok(ExitCode::SUCCESS)
}
