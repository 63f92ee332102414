//! The `[rest]` section: the REST proxy (`switchyard rest-proxy`) and its rate limiter.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use serde::Deserialize;
use switchyard_rest::{Rate, RestConfig, WaitMode};

use crate::redact::redact_url;

/// The proxy's default port.
pub const DEFAULT_REST_PORT: u16 = 7381;

/// What a request that would have to wait does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestMode {
    /// Wait in the bucket's queue, at most `max_wait_ms`.
    Queue,
    /// Answer a synthetic 429 at once.
    FailFast,
}

/// `[rest]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RestSection {
    /// Address the proxy binds (loopback by default; anything else needs `secret`).
    pub bind: IpAddr,
    /// Port of the proxy.
    pub port: u16,
    /// Where requests go (Discord, or the fake in tests).
    pub upstream: String,
    /// Secret every request must carry in `X-Switchyard-Secret`; required off loopback.
    pub secret: Option<String>,
    /// Global limit per bot, requests per second (Discord: 50).
    pub global_per_second: u32,
    /// Per-bot global limits (requests per second), keyed by bot user id.
    pub global_per_bot: HashMap<String, u32>,
    /// Global limit for requests without a token, per second (Discord: 50 per IP).
    pub ip_per_second: u32,
    /// `queue` (default) or `fail_fast`.
    pub mode: RestMode,
    /// Longest wait in queue mode before a synthetic 429, in milliseconds.
    pub max_wait_ms: u64,
    /// Safety margin added to every window, in milliseconds.
    pub margin_ms: u64,
    /// Upstream 429s retried per request.
    pub max_retries: u32,
    /// Per-token limiters idle this long (seconds) are dropped.
    pub idle_evict_s: u64,
    /// Invalid responses per 10 minutes at which the warning metric rises.
    pub invalid_warn: u32,
    /// Redis URL to share limits across nodes (`redis://host:port`).
    pub redis: Option<String>,
    /// Prefix of the Redis keys.
    pub redis_prefix: String,
}

impl Default for RestSection {
    fn default() -> Self {
        RestSection {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: DEFAULT_REST_PORT,
            upstream: "https://discord.com".to_owned(),
            secret: None,
            global_per_second: 50,
            global_per_bot: HashMap::new(),
            ip_per_second: 50,
            mode: RestMode::Queue,
            max_wait_ms: 30_000,
            margin_ms: 50,
            max_retries: 3,
            idle_evict_s: 600,
            invalid_warn: 5_000,
            redis: None,
            redis_prefix: "switchyard:rest:".to_owned(),
        }
    }
}

impl RestSection {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !(self.upstream.starts_with("http://") || self.upstream.starts_with("https://")) {
            anyhow::bail!(
                "rest.upstream = {:?} must start with http:// or https://",
                redact_url(&self.upstream)
            );
        }
        if !self.bind.is_loopback() && self.secret.is_none() {
            anyhow::bail!(
                "rest.bind = {} is not a loopback address; set rest.secret (or SWITCHYARD_REST_SECRET) so that requests must carry it in X-Switchyard-Secret",
                self.bind
            );
        }
        if self.global_per_second == 0 || self.ip_per_second == 0 {
            anyhow::bail!("rest.global_per_second and rest.ip_per_second must be at least 1");
        }
        if let Some((bot, _)) = self.global_per_bot.iter().find(|(_, v)| **v == 0) {
            anyhow::bail!("rest.global_per_bot.{bot} must be at least 1");
        }
        if let Some(url) = &self.redis
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            anyhow::bail!("rest.redis = {:?} is not a redis:// URL", redact_url(url));
        }
        Ok(())
    }

    /// Checks again after command-line flags changed the section.
    pub fn validate_flags(&self) -> anyhow::Result<()> {
        self.validate()
    }

    /// The library's configuration.
    pub fn to_config(&self) -> RestConfig {
        RestConfig {
            upstream: self.upstream.clone(),
            global: Rate::per_second(self.global_per_second),
            global_per_bot: self
                .global_per_bot
                .iter()
                .map(|(k, v)| (k.clone(), Rate::per_second(*v)))
                .collect(),
            global_per_ip: Rate::per_second(self.ip_per_second),
            wait: match self.mode {
                RestMode::Queue => WaitMode::Queue {
                    max_wait: Duration::from_millis(self.max_wait_ms),
                },
                RestMode::FailFast => WaitMode::FailFast,
            },
            margin: Duration::from_millis(self.margin_ms),
            max_retries: self.max_retries,
            idle_evict: Duration::from_secs(self.idle_evict_s),
            invalid_warn: self.invalid_warn,
            redis: self.redis.clone(),
            redis_prefix: self.redis_prefix.clone(),
            ..RestConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_loopback_needs_a_secret_and_urls_are_checked() {
        let ok = RestSection::default();
        assert!(ok.validate().is_ok());
        let open = RestSection {
            bind: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ..RestSection::default()
        };
        assert!(
            open.validate()
                .unwrap_err()
                .to_string()
                .contains("rest.secret")
        );
        let bad = RestSection {
            upstream: "discord.com".into(),
            ..RestSection::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("rest.upstream")
        );
        let cfg = RestSection {
            mode: RestMode::FailFast,
            ..RestSection::default()
        }
        .to_config();
        assert_eq!(cfg.wait, WaitMode::FailFast);
    }
}
