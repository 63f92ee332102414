//! The SDK against the gateway's real service control (not a hand-written answer): a bot with
//! the right key is registered and kept alive by its signed heartbeats, one without a key
//! stops with the gateway's reason, one with a wrong key is never registered, and the
//! gateway's signed SHUTDOWN stops a bot while a forged one does not.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use switchyard_bot::{BotStartError, ServeError, ServeOptions, Shutdown, serve};
use switchyard_broker::Topic;
use switchyard_core::control::auth::ControlKey;
use switchyard_core::control::{ControlMessage, ControlOp};
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
        allow_unsigned_remote: false,
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

    // No key: the unsigned IDENTIFY is refused, and the bot stops with the gateway's reason.
    let other = Shutdown::new();
    let bad = serve(
        vec![echo::bot().instance("echo-bare")],
        options(&broker, "", &other),
    );
    let Err(ServeError::Bots(failures)) = tokio::time::timeout(WAIT, bad).await.expect("in time")
    else {
        panic!("a refused IDENTIFY stops the bot");
    };
    assert!(
        matches!(&failures[0].error, BotStartError::IdentifyRefused(r) if r.contains("unsigned")),
        "{failures:?}"
    );

    // A wrong key: its IDENTIFYs fail the signature check and it is never registered (it
    // ignores the gateway's unsigned refusal: anyone could have sent that).
    let wrong = Shutdown::new();
    let guess = tokio::spawn(serve(
        vec![echo::bot().instance("echo-wrong")],
        options(&broker, "guess", &wrong),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let services = control.services();
    assert!(
        services.iter().all(|s| s.instance != "echo-wrong"),
        "{services:?}"
    );
    wrong.trigger();
    finished(guess).await.expect("stops when told");

    // A SHUTDOWN signed with another key does not stop the good bot; the gateway's does.
    let forged = ControlKey::new(b"guess").sign(
        "control.echo",
        &ControlMessage::new(
            "gateway",
            ControlOp::Shutdown,
            &serde_json::json!({"name": "echo"}),
        )
        .expect("object"),
    );
    broker
        .publish(&Topic::new("control.echo").expect("topic"), forged.into())
        .await
        .expect("publish");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!good.is_finished(), "a forged SHUTDOWN stopped the bot");

    // SHUTDOWN from the gateway stops the good bot cleanly.
    control
        .shutdown("echo", Some("echo-good"), Some("test over"))
        .await
        .expect("shutdown");
    finished(good).await.expect("a clean stop");
    assert!(control.services().is_empty(), "forgotten after SHUTDOWN");
}

#[switchyard_bot::bot]
mod exploding {
    use switchyard_bot::prelude::*;

    #[on_message(r"^,panic$")]
    async fn explode(_ctx: Context<Message>) {
        panic!("boom in the handler");
    }
}

/// A keyed bot whose handler panics: the panic is caught and reported, and neither the
/// report nor anything on the broker (IDENTIFY, heartbeats, error reports) carries the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_leaks_no_control_key() {
    const KEY: &str = "panic-test-control-key-7f3c";
    let broker = embedded();
    let config = ControlConfig {
        key: Some(Secret::new(KEY)),
        allow_unsigned_remote: false,
        service_ttl: Duration::from_millis(300),
        proxy: false,
    };
    let control = services::start(broker.clone(), config)
        .await
        .expect("control");
    let mut everything = subscribe(broker.as_ref(), ">").await;
    let reports: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = reports.clone();
    let bot = exploding::bot().instance("exploding-1").on_error(move |r| {
        seen.lock()
            .expect("lock")
            .push(format!("{r:?} / {}", r.error))
    });
    let stop = Shutdown::new();
    let task = tokio::spawn(serve(vec![bot], options(&broker, KEY, &stop)));
    let deadline = tokio::time::Instant::now() + WAIT;
    while control.services().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    publish_event(broker.as_ref(), "MESSAGE_CREATE", 1, &message(1, ",panic")).await;
    while reports.lock().expect("lock").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no report of the panic"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.trigger();
    finished(task).await.expect("stops when told");

    let reports = reports.lock().expect("lock").clone();
    assert!(reports[0].contains("boom in the handler"), "{reports:?}");
    assert!(reports.iter().all(|r| !r.contains(KEY)), "{reports:?}");
    let mut carried = 0;
    while let Some(m) = everything.try_recv() {
        carried += 1;
        let text = String::from_utf8_lossy(&m.payload);
        assert!(!text.contains(KEY), "{}: {text}", m.topic);
    }
    assert!(
        carried > 2,
        "the broker carried IDENTIFY and more: {carried}"
    );
}
