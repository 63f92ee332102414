//! End to end against the fake Discord: a user's message in the fake goes through the real
//! gateway (in process, embedded broker) to the bot, and the bot's answers come back through
//! the outbound path as REST calls the fake records — replies, reactions, a created and edited
//! message, and typed REST requests with their responses.

mod support;

use std::time::Duration;

use support::gateway::GatewayEnv;
use switchyard_bot::{Bot, ServeOptions, Shutdown, serve};

#[switchyard_bot::bot(name = "e2e")]
mod e2e {
    use switchyard_bot::prelude::*;

    #[on_message(r",echo (.*)")]
    async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
        ctx.reply(format!("ok, you said: {text}")).await
    }

    #[on_message(r"^,react$")]
    async fn react(ctx: Context<Message>) -> Result<(), BotError> {
        ctx.react("👍").await?;
        ctx.send("reacted").await
    }

    #[on_message(r"^,edit$")]
    async fn edit(ctx: Context<Message>) -> Result<(), BotError> {
        let channel = ctx.event().channel_id.get();
        let draft = ctx
            .create_message(channel, serde_json::json!({"content": "draft"}))
            .await?;
        let edited = ctx.edit(draft.id.get(), "final").await?;
        ctx.send(format!("edited {} to {}", edited.id, edited.content))
            .await
    }

    #[on_message(r"^,nuke$")]
    async fn nuke(ctx: Context<Message>) -> Result<(), BotError> {
        let guild = ctx.guild_id().unwrap_or(0);
        match ctx
            .request_raw(&RestRequest::delete(format!("/guilds/{guild}")))
            .await
        {
            Err(BotError::Rest {
                status: 0, message, ..
            }) if message.contains("allowed_routes") => ctx.send("refused by the gateway").await,
            other => ctx.send(format!("unexpected: {other:?}")).await,
        }
    }

    #[on_message(r"^,fetch (\d+)$")]
    async fn fetch(ctx: Context<Message>, id: u64) -> Result<(), BotError> {
        let channel = ctx.event().channel_id;
        let req = RestRequest::get(format!("/channels/{channel}/messages/{id}"));
        match ctx.request::<Message>(&req).await {
            Ok(m) => ctx.send(format!("fetched: {}", m.content)).await,
            Err(BotError::Rest { status, .. }) => {
                ctx.send(format!("fetch failed with {status}")).await
            }
            Err(e) => Err(e),
        }
    }
}

async fn env() -> GatewayEnv {
    GatewayEnv::start(support::embedded()).await
}

fn start(
    env: &GatewayEnv,
    bot: Bot,
) -> (
    Shutdown,
    tokio::task::JoinHandle<Result<(), switchyard_bot::ServeError>>,
) {
    let stop = Shutdown::new();
    let opts = ServeOptions::broker(env.broker.clone())
        .signals(false)
        .shutdown(&stop);
    (stop, tokio::spawn(serve([bot], opts)))
}

#[tokio::test]
async fn the_echo_bot_answers_through_the_gateway() {
    let env = env().await;
    let mut control = support::subscribe(env.broker.as_ref(), "control.gateway").await;
    let (stop, task) = start(&env, e2e::bot());
    support::identified(&mut control, "e2e").await;

    let id = env.say(",echo hello from the fake");
    let body = env.wait_post("ok, you said: hello from the fake").await;
    assert_eq!(
        body["message_reference"]["message_id"],
        id.to_string(),
        "a reply to the user's message"
    );

    let react = env.say(",react");
    env.wait_post("reacted").await;
    let reacted = env.calls("PUT", "/reactions/");
    assert_eq!(reacted.len(), 1, "{reacted:?}");
    let want = format!(
        "/channels/{}/messages/{react}/reactions/%F0%9F%91%8D/@me",
        env.channel
    );
    assert!(reacted[0].0.ends_with(&want), "{reacted:?}");

    env.say(",edit");
    let patches = loop {
        let p = env.calls("PATCH", &format!("/channels/{}/messages/", env.channel));
        if !p.is_empty() {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(patches[0].1["content"], "final");
    let draft_id = patches[0].0.rsplit('/').next().expect("id").to_owned();
    env.wait_post(&format!("edited {draft_id} to final")).await;

    let target = env.say("something to fetch");
    env.say(&format!(",fetch {target}"));
    env.wait_post("fetched: something to fetch").await;
    env.say(",fetch 12345");
    env.wait_post("fetch failed with 404").await;

    // A route outside the gateway's allowlist fails at once, with the gateway's reason.
    env.say(",nuke");
    env.wait_post_for("refused by the gateway", Duration::from_secs(3))
        .await;
    assert!(env.calls("DELETE", "/guilds/").is_empty());

    stop.trigger();
    support::finished(task).await.expect("clean stop");
    // The gateway kept its one session throughout.
    assert_eq!(env.sim.counters().sessions.len(), 1);
    env.shutdown().await;
}

/// An event delivered twice (as a durable broker redelivers one whose bot crashed before its
/// ack) is answered twice, with the same nonce: the fake, like Discord, creates the message
/// once.
#[tokio::test]
async fn a_redelivered_event_is_answered_once_in_the_channel() {
    let env = env().await;
    let mut control = support::subscribe(env.broker.as_ref(), "control.gateway").await;
    let mut inbound = support::subscribe(env.broker.as_ref(), "inbound.discord.>").await;
    let (stop, task) = start(&env, e2e::bot());
    support::identified(&mut control, "e2e").await;

    env.say(",echo only once");
    let event = loop {
        let m = support::recv(&mut inbound).await;
        if String::from_utf8_lossy(&m.payload).contains(",echo only once") {
            break m;
        }
    };
    env.wait_post("ok, you said: only once").await;
    env.broker
        .publish(&event.topic, event.payload.clone())
        .await
        .expect("publish again");
    let deadline = tokio::time::Instant::now() + support::WAIT;
    let posts = |env: &GatewayEnv| {
        env.posted()
            .iter()
            .filter(|c| *c == "ok, you said: only once")
            .count()
    };
    while posts(&env) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second delivery was not answered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let bodies: Vec<_> = env
        .calls("POST", "/messages")
        .into_iter()
        .map(|(_, b)| b)
        .filter(|b| b["content"] == "ok, you said: only once")
        .collect();
    assert_eq!(bodies[0]["nonce"], bodies[1]["nonce"], "{bodies:?}");
    let created = env
        .sim
        .messages(env.channel)
        .into_iter()
        .filter(|m| m["content"] == "ok, you said: only once")
        .count();
    assert_eq!(created, 1, "one message in the channel");

    stop.trigger();
    support::finished(task).await.expect("clean stop");
    env.shutdown().await;
}
