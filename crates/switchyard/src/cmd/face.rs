//! `switchyard face`: the Discord-compatible face on its own, in front of the gateway
//! processes of one bot (reading their events from the broker and their caches from their
//! admin listeners); and [`start`], which `switchyard run` uses to serve it beside its
//! gateway.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use switchyard_broker::Broker;
use switchyard_core::gateway_proto::intents;
use switchyard_face::{FaceDeps, FaceTokens, RestUpstream, RunningFace, StateSource};
use switchyard_gateway::{GatewayConfig, PayloadMode, Profile};
use switchyard_rest::RestClient;

use crate::cli::FaceArgs;
use crate::cmd::broker::shutdown_signal;
use crate::config::Config;
use crate::face_source::RemoteSource;

/// Which bot of the configuration the face serves.
pub(super) fn face_bot(config: &Config, bots: &[GatewayConfig]) -> anyhow::Result<GatewayConfig> {
    match &config.face.bot {
        Some(name) => bots
            .iter()
            .find(|b| &b.bot == name)
            .cloned()
            .with_context(|| {
                let names: Vec<&str> = bots.iter().map(|b| b.bot.as_str()).collect();
                format!(
                    "face.bot = {name:?} is not a bot of [gateway] ({})",
                    names.join(", ")
                )
            }),
        None => bots
            .first()
            .cloned()
            .context("no bot configured in [gateway]"),
    }
}

/// Refuses a gateway whose filters drop events the face's clients would miss: clients are
/// promised every event their intents allow, as Discord sends them.
pub(super) fn check_events(bot: &GatewayConfig) -> anyhow::Result<()> {
    let fix = "the face serves every event its clients' intents allow; remove the filter, or serve the face from a bot entry without it";
    let bot = bot.effective();
    if bot.profile == Profile::Bytebot || bot.payload == PayloadMode::Raw {
        anyhow::bail!(
            "bot {}: the face needs events in the envelope, and the bytebot profile / payload = \"raw\" publishes raw MESSAGE_CREATEs only; {fix}",
            bot.bot
        );
    }
    if !bot.events.is_empty() {
        anyhow::bail!(
            "bot {}: gateway.events publishes only {} events; {fix}",
            bot.bot,
            bot.events.len()
        );
    }
    let upstream = bot.intents.bits();
    let mut dropped: Vec<&str> = bot
        .drop_events
        .iter()
        .map(String::as_str)
        .filter(|e| {
            let guild = intents::required(e, true);
            let dm = intents::required(e, false);
            [guild, dm]
                .iter()
                .any(|bit| bit.is_none_or(|b| upstream & b != 0))
        })
        .collect();
    dropped.sort_unstable();
    if !dropped.is_empty() {
        anyhow::bail!(
            "bot {}: gateway.drop_events drops {} that the bot's intents produce; {fix}",
            bot.bot,
            dropped.join(", ")
        );
    }
    if bot.skip_own_messages {
        anyhow::bail!(
            "bot {}: gateway.skip_own_messages drops the bot's own messages, which Discord sends it; {fix}",
            bot.bot
        );
    }
    Ok(())
}

/// Starts the face for `bot` over `source`, with REST calls going through `rest` signed
/// with the bot's token. The caller has checked `bot` with [`check_events`] first, before
/// starting anything else.
pub(super) async fn start(
    config: &Config,
    bot: &GatewayConfig,
    broker: Arc<dyn Broker>,
    source: Arc<dyn StateSource>,
    rest: Option<RestClient>,
) -> anyhow::Result<RunningFace> {
    let listener = tokio::net::TcpListener::bind(config.face.bind)
        .await
        .with_context(|| format!("cannot listen on face.bind = {}", config.face.bind))?;
    let bound = listener.local_addr().context("face listener")?;
    let options = config.face.options(bound)?;
    let inbound = bot
        .topic_template
        .pattern_for(&bot.bot)
        .map_err(|e| anyhow::anyhow!("gateway.topic_template: {e}"))?;
    let deps = FaceDeps {
        bot: bot.bot.clone(),
        broker,
        source,
        rest: rest.map(|client| RestUpstream {
            client,
            token: bot.token.expose().to_owned(),
        }),
        inbound,
        reply_prefix: bot.replies.prefix().to_owned(),
    };
    let face = switchyard_face::serve(listener, options, deps).await?;
    crate::progress::say(format_args!(
        "switchyard face: bot {} as Discord on ws://{bound} (REST under http://{bound}/api)",
        bot.bot
    ));
    Ok(face)
}

pub async fn run(mut config: Config, args: FaceArgs) -> anyhow::Result<ExitCode> {
    if let Some(user) = args.mint_token {
        use std::io::Read as _;
        let mut bytes = [0u8; 24];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut bytes))
            .context("cannot read /dev/urandom for a new token")?;
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        println!("{}", FaceTokens::mint(user, &secret));
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(addr) = args.bind {
        config.face.bind = addr;
    }
    if !args.cache.is_empty() {
        config.face.cache_urls = args.cache;
    }
    if config.face.cache_urls.is_empty() {
        anyhow::bail!(
            "switchyard face reads the bot's state from the gateway's admin listener: give --cache http://host:port (or face.cache_urls)"
        );
    }
    let bots = config.gateway.bot_configs(true)?;
    let bot = face_bot(&config, &bots)?;
    check_events(&bot)?;
    let metrics = crate::admin::install_metrics()?;
    let broker = switchyard_broker::connect(&config.broker.process.url, &config.broker.options)
        .await
        .map_err(|e| anyhow::anyhow!("broker.url: {e}"))?;
    let source = RemoteSource::new(
        &config.face.cache_urls,
        &bot.bot,
        config.face.cache_token.clone(),
    )?;
    let token_known = bot.token.expose() != "validation";
    let rest = if token_known {
        let mut rest_config = config.rest.config.clone();
        rest_config.upstream = config.gateway.process.api_url.clone();
        Some(RestClient::new(rest_config).await.context("[rest]")?)
    } else {
        tracing::warn!(
            "no bot token (DISCORD_TOKEN or gateway.token): the face answers its own REST routes and 503 to the others"
        );
        None
    };
    let ready = crate::admin::broker_probe(broker.clone());
    let face = start(&config, &bot, broker, Arc::new(source), rest).await?;
    let face_status = face.status_fn();
    let status: crate::admin::StatusFn =
        Arc::new(move || serde_json::json!({"face": face_status()}));
    crate::admin::serve(
        &config.admin,
        "face",
        metrics,
        status,
        crate::admin::Parts {
            ready: Some(ready),
            ..Default::default()
        },
    )
    .await?;
    shutdown_signal().await;
    tracing::info!("shutting down: clients reconnect to the next face");
    face.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
