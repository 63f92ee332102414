//! The seeds' `,echo` bot: `,echo hello` is answered with "ok, you said: hello" as a reply,
//! and a 😄 or 😸 reaction is acknowledged with a message.
//!
//! ```sh
//! SWITCHYARD_BROKER=redis://127.0.0.1:6379 cargo run -p switchyard-bot --example echo
//! ```
//!
//! Environment: `SWITCHYARD_BROKER` (any broker URL; `?durable=streams` on Redis or
//! `?durable=jetstream` on NATS for a bot that catches up after a restart), `SWITCHYARD_KEY`
//! (the IDENTIFY key), `ECHO_GROUP` (join this worker group, so that replicas share the work),
//! `ECHO_INSTANCE` (the instance name), `RUST_LOG`.

use switchyard_bot::prelude::*;

#[switchyard_bot::bot(name = "echo")]
mod echo {
    use switchyard_bot::prelude::*;

    /// `,echo (.*)`: the seeds' echo command.
    #[on_message(r",echo (.*)")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        tracing::info!(%text, "echo");
        ctx.reply(format!("ok, you said: {text}")).await
    }

    /// A smiley reaction, as in the Julia seed's `@reaction_add r"([😄,😸])"`.
    #[on_reaction_add(r"([😄😸])")]
    async fn smile(ctx: Context<GatewayReaction>, emoji: String) -> Result<(), BotError> {
        tracing::info!(%emoji, "got a smiley");
        ctx.send(format!("got smiley = {emoji}")).await
    }
}

#[tokio::main]
async fn main() -> Result<(), ServeError> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut bot = echo::bot().version(env!("CARGO_PKG_VERSION"));
    if let Ok(group) = std::env::var("ECHO_GROUP") {
        bot = bot.worker_group(group);
    }
    if let Ok(instance) = std::env::var("ECHO_INSTANCE") {
        bot = bot.instance(instance);
    }
    serve([bot], ServeOptions::from_env()).await
}
