//! The `[control]` section: service control (IDENTIFY answers, the registry of live services,
//! the `gateway-proxy.` mark), read by `switchyard run`.

use std::time::Duration;

use serde::Deserialize;
use switchyard_gateway::{ControlConfig, Secret};

/// `[control]`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlSection {
    /// The key services must present in IDENTIFY (`SWITCHYARD_CONTROL_KEY`); unset: any key.
    pub key: Option<String>,
    /// How long (ms) a service stays registered without repeating IDENTIFY.
    pub service_ttl_ms: u64,
    /// Republish `gateway-proxy.{source}.{topic…}` on `{topic…}`, counted per source.
    pub proxy: bool,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            key: None,
            service_ttl_ms: 30_000,
            proxy: true,
        }
    }
}

impl std::fmt::Debug for ControlSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlSection")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("service_ttl_ms", &self.service_ttl_ms)
            .field("proxy", &self.proxy)
            .finish()
    }
}

impl ControlSection {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if self.service_ttl_ms == 0 {
            anyhow::bail!("control.service_ttl_ms must be at least 1");
        }
        Ok(())
    }

    /// The library's settings.
    pub fn library(&self) -> ControlConfig {
        ControlConfig {
            key: self.key.clone().map(Secret::new),
            service_ttl: Duration::from_millis(self.service_ttl_ms),
            proxy: self.proxy,
        }
    }
}
