//! Configuration: one TOML file plus environment variables, validated at start with errors
//! that name the key. One section per area, each in its own module.
//!
//! Precedence: command-line flags, then `SWITCHYARD_{SECTION}_{KEY}` environment variables
//! (for example `SWITCHYARD_BROKER_RESP_PORT=7000`), then the file, then defaults.

pub(crate) mod admin;
pub(crate) mod broker;
pub(crate) mod control;
pub(crate) mod face;
#[cfg(test)]
mod fuzz_driver;
pub(crate) mod gateway;
pub(crate) mod grpc;
pub(crate) mod interactions;
pub(crate) mod irc;
pub(crate) mod rest;

use std::path::Path;

use anyhow::Context as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use admin::AdminConfig;
pub use broker::BrokerConfig;

/// The sections environment variables may address.
const SECTIONS: &[&str] = &[
    "broker",
    "admin",
    "rest",
    "gateway",
    "control",
    "sim",
    "face",
    "grpc",
    "interactions",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Which broker, and the embedded broker's listener; read apart
    /// ([`BrokerConfig::from_table`]) so that its errors name the key.
    #[serde(skip)]
    pub broker: BrokerConfig,
    /// The admin listener (`/metrics`, `/status`).
    pub admin: AdminConfig,
    /// The REST proxy (`switchyard rest-proxy`); read apart ([`rest::RestSection::from_table`]).
    #[serde(skip)]
    pub rest: rest::RestSection,
    /// The gateway (`switchyard run`): bot, token, intents, shards, topics, outbound; read
    /// apart ([`gateway::GatewaySection::from_table`]) so that its errors name the key.
    #[serde(skip)]
    pub gateway: gateway::GatewaySection,
    /// Service control (`switchyard run`): the IDENTIFY key, the service registry, the proxy mark.
    pub control: switchyard_gateway::ControlConfig,
    /// The fake Discord (`switchyard sim`); see `switchyard_sim::SimConfig` for every key.
    pub sim: switchyard_sim::SimConfig,
    /// The Discord-compatible face (`switchyard face`, or in `switchyard run`).
    pub face: face::FaceConfig,
    /// The gRPC listener (`switchyard run`): Control, Cache and Rest services.
    pub grpc: grpc::GrpcConfig,
    /// Discord's HTTP interactions endpoint (`switchyard run`); read apart
    /// ([`interactions::InteractionsSection::from_table`]).
    #[serde(skip)]
    pub interactions: interactions::InteractionsSection,
    /// IRC networks (`switchyard run`), one `[[irc]]` table each.
    pub irc: Vec<switchyard_irc::IrcConfig>,
}

impl Config {
    /// Loads `path` (if given) and overlays the process environment.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?,
            None => String::new(),
        };
        let origin = path.map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        Self::from_sources(&text, &origin, std::env::vars())
    }

    /// Parses TOML `text` (from `origin`, for messages) and overlays `env`.
    pub fn from_sources(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut table: toml::Table =
            toml::from_str(text).with_context(|| format!("{origin} is not valid TOML"))?;
        let mut from_env = Vec::new();
        for (name, value) in env {
            let Some((section, key)) = env_key(&name) else {
                continue;
            };
            let section_table = table
                .entry(section.to_owned())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let toml::Value::Table(section_table) = section_table else {
                anyhow::bail!("`{section}` in {origin} must be a table");
            };
            section_table.insert(key.clone(), env_value(&value));
            from_env.push(format!("{name} (= {section}.{key})"));
        }
        let mut section = |name: &str| match table.remove(name) {
            Some(toml::Value::Table(section)) => Ok(section),
            Some(_) => Err(anyhow::anyhow!("`{name}` in {origin} must be a table")),
            None => Ok(toml::Table::new()),
        };
        let (gateway, broker, rest) = (section("gateway")?, section("broker")?, section("rest")?);
        let interactions = section("interactions")?;
        let read = keyed::<Config>("", table).and_then(|mut config| {
            config.broker = BrokerConfig::from_table(broker)?;
            config.rest = rest::RestSection::from_table(rest)?;
            config.gateway = gateway::GatewaySection::from_table(gateway)?;
            config.interactions = interactions::InteractionsSection::from_table(interactions)?;
            Ok(config)
        });
        let config = read.map_err(|e| {
            let mut msg = format!("invalid configuration in {origin}: {e}");
            if !from_env.is_empty() {
                msg.push_str(&format!(
                    "; environment overrides in effect: {}",
                    from_env.join(", ")
                ));
            }
            anyhow::anyhow!(msg)
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    fn validate(&self) -> anyhow::Result<()> {
        self.broker.validate()?;
        self.admin.validate()?;
        self.rest.validate()?;
        self.gateway.validate()?;
        self.face.validate()?;
        self.grpc.validate()?;
        self.interactions.validate()?;
        irc::validate(&self.irc)?;
        Ok(())
    }
}

/// Deserializes `table` as `T`; an error names the key as `{section}.{key}`.
fn keyed<T: DeserializeOwned>(section: &str, table: toml::Table) -> anyhow::Result<T> {
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let key = match (section, path.as_str()) {
            ("", _) => path.clone(),
            (_, ".") => section.to_owned(),
            _ => format!("{section}.{path}"),
        };
        anyhow::anyhow!("{key}: {}", e.inner().message().trim())
    })
}

/// Reads the table of `section` as two parts: its `keys` (this process's own) into `P`, every
/// other key into `L` (a library's settings, which defines them). An unknown key's error lists
/// both parts' keys.
fn read_apart<P: DeserializeOwned, L: DeserializeOwned>(
    section: &str,
    mut table: toml::Table,
    keys: &[&str],
) -> anyhow::Result<(P, L)> {
    let own: toml::Table = keys
        .iter()
        .filter_map(|key| table.remove(*key).map(|value| ((*key).to_owned(), value)))
        .collect();
    let process = keyed(section, own)?;
    let library = keyed(section, table).map_err(|e| {
        if e.to_string().contains("unknown field") {
            anyhow::anyhow!("{e}, or one of {}", keys.join(", "))
        } else {
            e
        }
    })?;
    Ok((process, library))
}

/// `SWITCHYARD_BROKER_RESP_PORT` → (`broker`, `resp_port`).
fn env_key(name: &str) -> Option<(&'static str, String)> {
    let rest = name.strip_prefix("SWITCHYARD_")?;
    SECTIONS.iter().find_map(|section| {
        let key = rest
            .strip_prefix(&section.to_ascii_uppercase())?
            .strip_prefix('_')?;
        (!key.is_empty()).then(|| (*section, key.to_ascii_lowercase()))
    })
}

/// Environment values are typed as TOML would read them (numbers, booleans), else strings.
fn env_value(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_file_and_env_layer() {
        let config = Config::from_sources("", "test", env(&[])).expect("defaults");
        assert_eq!(config.broker.process.resp_port, 7379);
        let config = Config::from_sources(
            "[broker]\nresp_port = 7000\n",
            "test",
            env(&[
                ("SWITCHYARD_BROKER_SUBSCRIBER_BUFFER", "16"),
                ("OTHER", "x"),
            ]),
        )
        .expect("valid");
        assert_eq!(config.broker.process.resp_port, 7000);
        assert_eq!(config.broker.options.subscriber_buffer, 16);
    }

    #[test]
    fn the_readme_example_is_a_valid_configuration() {
        let readme = include_str!("../../../../README.md");
        let start = readme
            .find("## Configuration")
            .and_then(|at| {
                readme[at..]
                    .find("```toml")
                    .map(|i| at + i + "```toml".len())
            })
            .expect("README has a TOML example under ## Configuration");
        let end = start + readme[start..].find("```").expect("closed code block");
        Config::from_sources(&readme[start..end], "README.md", env(&[]))
            .expect("README's example must load");
    }

    #[test]
    fn errors_name_the_key() {
        let e = Config::from_sources("[broker]\nresp_prot = 1\n", "sy.toml", env(&[]))
            .expect_err("unknown key");
        assert!(e.to_string().contains("resp_prot"), "{e}");
        let e = Config::from_sources("[broker]\nresp_port = \"x\"\n", "sy.toml", env(&[]))
            .expect_err("wrong type");
        assert!(e.to_string().contains("sy.toml"), "{e}");
        let e = Config::from_sources("", "t", env(&[("SWITCHYARD_BROKER_RESP_PORT", "99999")]))
            .expect_err("out of range");
        assert!(e.to_string().contains("SWITCHYARD_BROKER_RESP_PORT"), "{e}");
        let e = Config::from_sources("[broker]\nurl = \"kafka://x\"\n", "t", env(&[]))
            .expect_err("bad url");
        assert!(e.to_string().contains("broker.url"), "{e}");
        let e = Config::from_sources("[control]\nservice_ttl_ms = 0\n", "t", env(&[]))
            .expect_err("zero ttl");
        assert!(e.to_string().contains("control.service_ttl_ms"), "{e}");
    }

    #[test]
    fn sections_read_into_the_libraries_settings() {
        let config = Config::from_sources(
            "[control]\nkey = \"sekrit\"\nservice_ttl_ms = 1500\nproxy = false\n",
            "t",
            env(&[]),
        )
        .expect("valid");
        let control = &config.control;
        assert_eq!(control.key.as_ref().map(|k| k.expose()), Some("sekrit"));
        assert_eq!(control.service_ttl, std::time::Duration::from_millis(1500));
        assert!(!control.proxy);
        assert!(!format!("{config:?}").contains("sekrit"), "never printed");
        let defaults = Config::from_sources("", "t", env(&[])).expect("defaults");
        assert_eq!(
            defaults.control.service_ttl,
            switchyard_gateway::ControlConfig::default().service_ttl
        );
    }
}
