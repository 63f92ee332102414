//! The SDK against the gateway's real service control (not a hand-written answer): a bot with
//! the right key is registered and kept alive by its heartbeats, one with a wrong key stops
//! with the gateway's reason, and the gateway's SHUTDOWN stops a bot.

mod support;

use std::time::Duration;

use support::*;
use switchyard_bot::{BotStartError, ServeError, ServeOptions, Shutdown, serve};
use switchyard_gateway::Secret;
use switchyard_gateway::services::{self, ControlConfig};

#[switchyard_bot::bot]
mod echo {
    use switchyard_bot::prelude::*;

    #[on_message(r"^,echo (.+)$")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        ctx.reply(text).await
    }
}

fn options(
    broker: &std::sync::Arc<dyn switchyard_broker::Broker>,
    key: &str,
    stop: &Shutdown,
) -> ServeOptions {
    ServeOptions::broker(broker.clone())
        .signals(false)
        .shutdown(stop)
        .key(key)
        .heartbeat(Duration::from_millis(50))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_registers_keeps_refuses_and_stops_bots() {
    let broker = embedded();
    let config = ControlConfig {
        key: Some(Secret::new("team-key")),
        service_ttl: Duration::from_millis(300),
        proxy: false,
    };
    let control = services::start(broker.clone(), config)
        .await
        .expect("control");

    // The right key: registered, and still there well past the TTL thanks to heartbeats.
    let stop = Shutdown::new();
    let good = tokio::spawn(serve(
        vec![echo::bot().instance("echo-good")],
        options(&broker, "team-key", &stop),
    ));
    let deadline = tokio::time::Instant::now() + WAIT;
    while control.services().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the bot never registered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let services = control.services();
    assert_eq!(services.len(), 1, "kept alive by heartbeats: {services:?}");
    assert_eq!(services[0].instance, "echo-good");

    // A wrong key: the bot stops with the gateway's reason.
    let other = Shutdown::new();
    let bad = serve(
        vec![echo::bot().instance("echo-bad")],
        options(&broker, "guess", &other),
    );
    let Err(ServeError::Bots(failures)) = tokio::time::timeout(WAIT, bad).await.expect("in time")
    else {
        panic!("a refused IDENTIFY stops the bot");
    };
    assert!(
        matches!(&failures[0].error, BotStartError::IdentifyRefused(r) if r.contains("bad key")),
        "{failures:?}"
    );

    // SHUTDOWN from the gateway stops the good bot cleanly.
    control
        .shutdown("echo", Some("echo-good"), Some("test over"))
        .await
        .expect("shutdown");
    finished(good).await.expect("a clean stop");
    assert!(control.services().is_empty(), "forgotten after SHUTDOWN");
}
