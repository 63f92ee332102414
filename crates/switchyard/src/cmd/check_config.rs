//! `switchyard check-config`: loads the configuration as the long-running commands do (file,
//! then environment) and checks what they would check at start, without starting anything:
//! for deployments (`ExecStartPre=` in deploy/systemd) and CI. Missing tokens are allowed
//! (they come from the environment at run time).

use std::process::ExitCode;

use crate::config::Config;

pub async fn run(config: Config) -> anyhow::Result<ExitCode> {
    let bots = config.gateway.bot_configs(true)?;
    for warning in config.gateway.event_name_warnings() {
        eprintln!("warning: {warning}");
    }
    crate::cmd::run::check_pool_broker(&config)?;
    // the key, like the token, may come from the environment at run time
    if let Err(e) =
        crate::config::control::check_unsigned(&config.control, &config.broker.process.url)
    {
        eprintln!("warning: {e:#} (unless SWITCHYARD_CONTROL_KEY is set when it runs)");
    }
    if config.face.enabled {
        let bot = crate::cmd::face::face_bot(&config, &bots)?;
        crate::cmd::face::check_events(&bot)?;
    }
    if config.interactions.process.enabled {
        config
            .interactions
            .bot_index(bots.iter().map(|b| b.bot.as_str()))?;
    }
    let names: Vec<&str> = bots.iter().map(|b| b.bot.as_str()).collect();
    println!(
        "configuration ok: bot {} on {}{}, admin on {}",
        names.join(", "),
        crate::redact::redact_url(&config.broker.process.url),
        if config.gateway.process.pool {
            " (shard pool)"
        } else {
            ""
        },
        config.admin.bind
    );
    Ok(ExitCode::SUCCESS)
}
