//! The `[interactions]` section: Discord's HTTP interactions endpoint in `switchyard run`
//! (`enabled`, and which bot it serves), and the endpoint's keys read straight into the
//! library's [`InteractionsConfig`] (bind, public_key, path, max_age_s, answer_within_ms),
//! whose defaults are defined there.

use serde::Deserialize;
use switchyard_gateway::InteractionsConfig;

/// `[interactions]`.
#[derive(Debug, Clone, Default)]
pub struct InteractionsSection {
    /// Whether it runs, and for which bot.
    pub process: EndpointKeys,
    /// The endpoint's settings.
    pub config: InteractionsConfig,
}

/// The `[interactions]` keys only `switchyard run` reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointKeys {
    /// `switchyard run` serves the endpoint.
    pub enabled: bool,
    /// Which bot of `[gateway]` it serves: the application whose public key is set (default:
    /// the only one, or the first of `[[gateway.bots]]`).
    pub bot: Option<String>,
}

impl EndpointKeys {
    const KEYS: [&str; 2] = ["enabled", "bot"];
}

impl InteractionsSection {
    /// Reads the `[interactions]` table: the process's keys, then the endpoint's.
    pub(super) fn from_table(table: toml::Table) -> anyhow::Result<Self> {
        let (process, config) = super::read_apart("interactions", table, &EndpointKeys::KEYS)?;
        Ok(InteractionsSection { process, config })
    }

    /// Checks the section (errors name the key).
    pub fn validate(&self) -> anyhow::Result<()> {
        self.config.validate().map_err(anyhow::Error::from)
    }

    /// The position among `bots` of the bot the endpoint serves.
    pub fn bot_index<'a>(&self, bots: impl Iterator<Item = &'a str>) -> anyhow::Result<usize> {
        let names: Vec<&str> = bots.collect();
        match &self.process.bot {
            None if names.is_empty() => anyhow::bail!("no bot configured in [gateway]"),
            None => Ok(0),
            Some(name) => names.iter().position(|b| b == name).ok_or_else(|| {
                anyhow::anyhow!(
                    "interactions.bot = {name:?} is not a bot of [gateway] ({})",
                    names.join(", ")
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(text: &str, env: &[(&str, &str)]) -> anyhow::Result<Config> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::from_sources(text, "t", env)
    }

    const KEY: &str = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

    #[test]
    fn off_loopback_needs_the_public_key() {
        let e = load(
            "[interactions]\nenabled = true\nbind = \"0.0.0.0:7390\"\n",
            &[],
        )
        .expect_err("no key");
        assert!(e.to_string().contains("interactions.public_key"), "{e}");
        let text = format!("[interactions]\nbind = \"0.0.0.0:7390\"\npublic_key = \"{KEY}\"\n");
        let config = load(&text, &[]).expect("with a key");
        assert!(config.interactions.config.public_key.is_some());
        let from_env = load(
            "[interactions]\nbind = \"0.0.0.0:7390\"\n",
            &[("SWITCHYARD_INTERACTIONS_PUBLIC_KEY", KEY)],
        );
        assert!(from_env.is_ok(), "{from_env:?}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = load("[interactions]\npublic_key = \"abc\"\n", &[]).expect_err("bad key");
        assert!(e.to_string().contains("interactions.public_key"), "{e}");
        assert!(e.to_string().contains("64 hex digits"), "{e}");
        let e = load("[interactions]\nanswer_within_ms = 5000\n", &[]).expect_err("too slow");
        assert!(e.to_string().contains("answer_within_ms"), "{e}");
        let e = load("[interactions]\nenable = true\n", &[]).expect_err("typo");
        assert!(e.to_string().contains("enable"), "{e}");
        let config = load("", &[]).expect("defaults");
        assert!(!config.interactions.process.enabled);
        assert_eq!(config.interactions.config.path, "/interactions");
    }

    #[test]
    fn the_endpoint_serves_the_named_bot() {
        let config = load("[interactions]\nbot = \"helper\"\n", &[]).expect("valid");
        let section = &config.interactions;
        assert_eq!(
            section.bot_index(["main", "helper"].into_iter()).ok(),
            Some(1)
        );
        let e = section
            .bot_index(["main"].into_iter())
            .expect_err("unknown");
        assert!(e.to_string().contains("interactions.bot"), "{e}");
    }
}
