//! The SDK's gateway commands end to end, for the second of two bots in one deployment (its
//! own token, inbound topics and outbound pattern): the bot answers on `outbound.helper.…`,
//! the fake records the calls as the helper bot's, and presence, member requests (with
//! Discord's rate limit on whole-guild requests) and a voice join work from handlers. On the
//! embedded broker and on a private Redis.

mod support;

use std::sync::Arc;
use std::time::Duration;

use switchyard_bot::{Bot, BrokerOptions};
use switchyard_broker::Broker;
use switchyard_core::TopicTemplate;
use switchyard_gateway::{
    FileSessionStore, GatewayConfig, GatewayDeps, Intents, RunningGateway, Secret,
};
use switchyard_rest::{RestClient, RestConfig};
use switchyard_sim::{Inject, Sim, SimConfig, SimHandle, Snowflake, Timings};
use switchyard_testkit::RedisServer;

/// A token of Discord's form: the fake takes the bot's user id from it.
const HELPER_TOKEN: &str = "MjIyMjIyMjIyMjIyMjIyMjIy.GaBcDe.helper-secret";
const HELPER_ID: &str = "222222222222222222";

#[switchyard_bot::bot(name = "helper")]
mod helper {
    use switchyard_bot::command::{
        ErrorKind, MembersRequest, PresenceStatus, PresenceUpdate, Snowflake, VoiceStateUpdate,
    };
    use switchyard_bot::prelude::*;

    fn guild(ctx: &Context<Message>) -> Result<Snowflake, BotError> {
        ctx.guild_id()
            .map(Snowflake)
            .ok_or_else(|| BotError::Invalid("no guild".into()))
    }

    #[on_message(r"^,presence$")]
    async fn presence(ctx: Context<Message>) -> Result<(), BotError> {
        ctx.update_presence(PresenceUpdate {
            shard: None,
            since: None,
            activities: vec![serde_json::json!({"name": "the tests", "type": 3})],
            status: PresenceStatus::Dnd,
            afk: false,
        })
        .await?;
        ctx.send("presence set").await
    }

    #[on_message(r"^,members (\d+)$")]
    async fn members(ctx: Context<Message>, user: u64) -> Result<(), BotError> {
        let found = ctx
            .request_members(MembersRequest {
                guild_id: guild(&ctx)?,
                query: None,
                limit: None,
                presences: false,
                user_ids: Some(vec![Snowflake(user), Snowflake(42)]),
                nonce: Some("mine".into()),
            })
            .await?;
        ctx.send(format!(
            "found {} member(s), not found {:?}",
            found.members.len(),
            found.not_found
        ))
        .await
    }

    #[on_message(r"^,everyone$")]
    async fn everyone(ctx: Context<Message>) -> Result<(), BotError> {
        let request = MembersRequest {
            guild_id: guild(&ctx)?,
            query: Some(String::new()),
            limit: Some(0),
            presences: false,
            user_ids: None,
            nonce: None,
        };
        match ctx.request_members(request).await {
            Ok(all) => {
                ctx.send(format!("{} members in all", all.members.len()))
                    .await
            }
            Err(BotError::Command {
                kind: ErrorKind::RateLimited,
                retry_after_ms: Some(_),
                ..
            }) => ctx.send("refused: rate_limited").await,
            Err(e) => Err(e),
        }
    }

    #[on_message(r"^,join (\d+)$")]
    async fn join(ctx: Context<Message>, channel: u64) -> Result<(), BotError> {
        let joined = ctx
            .update_voice_state(VoiceStateUpdate {
                guild_id: guild(&ctx)?,
                channel_id: Some(Snowflake(channel)),
                self_mute: false,
                self_deaf: true,
            })
            .await?;
        let session = joined.state["session_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let endpoint = joined
            .server
            .as_ref()
            .and_then(|s| s["endpoint"].as_str())
            .unwrap_or_default()
            .to_owned();
        ctx.send(format!(
            "joined with a session: {}, endpoint: {}",
            !session.is_empty(),
            !endpoint.is_empty()
        ))
        .await
    }
}

struct Deployment {
    sim: SimHandle,
    gateways: Vec<RunningGateway>,
    _dir: tempfile::TempDir,
}

/// The fake Discord and two bots' gateways on `broker`: `first` on the default topics, and
/// `helper` (with GUILD_MEMBERS) on `inbound.helper.…` / `outbound.helper.>`.
async fn deployment(broker: Arc<dyn Broker>) -> Deployment {
    let sim = Sim::start(SimConfig {
        timings: Timings {
            member_request_window_ms: 600_000,
            ..SimConfig::fast().timings
        },
        ..SimConfig::fast()
    })
    .await
    .expect("sim starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateways = Vec::new();
    for (bot, token) in [("first", "first-bot-token"), ("helper", HELPER_TOKEN)] {
        let mut config = GatewayConfig::new(bot, Secret::new(token));
        config.identify_window = Duration::from_millis(50);
        if bot == "helper" {
            config.intents |= Intents::GUILD_MEMBERS;
            config.topic_template =
                TopicTemplate::parse("inbound.helper.{guild}.{channel}.{user}").expect("template");
            config.outbound_pattern = "outbound.helper.>".into();
        }
        let deps = GatewayDeps {
            broker: broker.clone(),
            rest: RestClient::new(RestConfig {
                upstream: sim.http_url().to_owned(),
                ..RestConfig::default()
            })
            .await
            .expect("rest client"),
            sessions: Arc::new(FileSessionStore::new(dir.path().join("sessions")).expect("store")),
            shared: None,
        };
        let gw = switchyard_gateway::start(config, deps)
            .await
            .expect("gateway starts");
        assert!(gw.wait_ready(support::WAIT).await, "{bot} ready");
        gateways.push(gw);
    }
    Deployment {
        sim,
        gateways,
        _dir: dir,
    }
}

impl Deployment {
    fn say(&self, channel: u64, text: &str) {
        self.sim
            .inject(&Inject::Message {
                channel_id: Snowflake(channel),
                content: text.to_owned(),
                author_id: None,
            })
            .expect("inject");
    }

    /// Waits for a message starting with `prefix` posted in `channel`; returns its content
    /// and the id of the bot that posted it.
    async fn posted(&self, channel: u64, prefix: &str) -> (String, Option<String>) {
        let path = format!("/api/v10/channels/{channel}/messages");
        let deadline = tokio::time::Instant::now() + support::WAIT;
        loop {
            let found = self.sim.counters().rest_calls.into_iter().find_map(|c| {
                let body: serde_json::Value = serde_json::from_str(&c.body).ok()?;
                let content = body["content"].as_str()?.to_owned();
                (c.method == "POST" && c.path == path && content.starts_with(prefix))
                    .then_some((content, c.bot_id))
            });
            if let Some(found) = found {
                return found;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing starting with {prefix:?} posted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn helper_commands(broker: Arc<dyn Broker>) {
    let d = deployment(broker.clone()).await;
    let mut control = support::subscribe(broker.as_ref(), "control.gateway").await;
    let bot: Bot = helper::bot()
        .subscribe("inbound.helper.>")
        .outbound("outbound.helper.>")
        .request_timeout(support::WAIT);
    let (stop, task) = support::start(&broker, vec![bot]);
    support::identified(&mut control, "helper").await;
    let world = d.sim.world().clone();
    let guild = &world.guilds[0];
    let text = guild
        .channels
        .iter()
        .find(|c| c.kind == 0)
        .expect("text channel")
        .id;
    let voice = guild
        .channels
        .iter()
        .find(|c| c.kind == 2)
        .expect("voice channel")
        .id;

    d.say(text, ",presence");
    let (_, by) = d.posted(text, "presence set").await;
    assert_eq!(
        by.as_deref(),
        Some(HELPER_ID),
        "answered with the helper's token"
    );
    let helper_sessions = |status: &str| {
        let c = d.sim.counters();
        let helpers: Vec<_> = c
            .sessions
            .iter()
            .filter(|s| s.connected && s.bot_id == HELPER_ID)
            .collect();
        !helpers.is_empty() && helpers.iter().all(|s| s.presence["status"] == status)
    };
    assert!(helper_sessions("dnd"), "the helper's presence is set");

    let member = guild.members[0].user.id;
    d.say(text, &format!(",members {member}"));
    let (found, _) = d.posted(text, "found").await;
    assert_eq!(found, "found 1 member(s), not found [42]");

    d.say(text, ",everyone");
    // every member and the bot itself
    d.posted(text, &format!("{} members in all", guild.members.len() + 1))
        .await;
    d.say(text, ",everyone");
    d.posted(text, "refused: rate_limited").await;

    d.say(text, &format!(",join {voice}"));
    let (joined, by) = d.posted(text, "joined").await;
    assert_eq!(joined, "joined with a session: true, endpoint: true");
    assert_eq!(by.as_deref(), Some(HELPER_ID));

    // every answer was the helper's: the first bot posted nothing
    let first = d
        .sim
        .counters()
        .rest_calls
        .iter()
        .filter(|c| c.method == "POST" && c.bot_id.as_deref() != Some(HELPER_ID))
        .count();
    assert_eq!(first, 0, "no call made with the first bot's token");

    stop.trigger();
    support::finished(task).await.expect("clean stop");
    for gw in d.gateways {
        gw.shutdown().await;
    }
}

#[tokio::test]
async fn the_second_bot_commands_through_the_sdk_on_the_embedded_broker() {
    helper_commands(support::embedded()).await;
}

#[tokio::test]
async fn the_second_bot_commands_through_the_sdk_on_redis() {
    let redis = RedisServer::start();
    let broker = switchyard_broker::connect(&redis.url(), &BrokerOptions::default())
        .await
        .expect("redis broker");
    helper_commands(broker).await;
}
