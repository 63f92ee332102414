//! What `switchyard run` checks of `[control]` against the broker: without a control key,
//! control messages are unsigned, which is only safe on a broker of this machine.

/// Refuses to run without `control.key` on a broker off loopback, unless
/// `control.allow_unsigned_remote` says so.
pub fn check_unsigned(
    control: &switchyard_gateway::ControlConfig,
    broker_url: &str,
) -> anyhow::Result<()> {
    let keyed = control.key.as_ref().is_some_and(|k| !k.is_empty());
    if keyed || control.allow_unsigned_remote || is_local(broker_url) {
        return Ok(());
    }
    anyhow::bail!(
        "control.key is not set and broker.url is not on this machine: anyone who reaches the broker could shut services down or pose as the shard pool's coordinator. Set control.key (or SWITCHYARD_CONTROL_KEY) on every gateway, bot and operator, or set control.allow_unsigned_remote = true to run unsigned anyway"
    )
}

/// Whether every server of `url` is this machine: the embedded broker, a Unix socket, or
/// loopback hosts (`localhost`, `127.0.0.0/8`, `::1`).
fn is_local(url: &str) -> bool {
    if url == "embedded" || url.contains("+unix://") || url.starts_with("unix:") {
        return true;
    }
    // A NATS URL may list servers: `nats://a:4222,nats://b:4222` (or `nats://a,b`).
    url.split(',').all(|server| {
        let server = server.trim();
        let rest = server.split_once("://").map_or(server, |(_, r)| r);
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = match hostport.strip_prefix('[') {
            Some(v6) => v6.split(']').next().unwrap_or_default(),
            None => hostport.split(':').next().unwrap_or_default(),
        };
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_gateway::{ControlConfig, Secret};

    #[test]
    fn loopback_brokers_are_local() {
        for url in [
            "embedded",
            "redis://127.0.0.1:6379",
            "redis://:pw@localhost:6379/0?durable=streams",
            "nats://[::1]:4222",
            "nats://127.0.0.1:4222,nats://127.0.0.2:4223",
            "redis+unix:///run/redis.sock",
        ] {
            assert!(is_local(url), "{url}");
        }
        for url in [
            "redis://10.0.0.5:6379",
            "nats://broker.internal:4222",
            "nats://127.0.0.1:4222,nats://10.1.1.1:4222",
            "redis://user:127.0.0.1@evil.example:6379",
        ] {
            assert!(!is_local(url), "{url}");
        }
    }

    #[test]
    fn unsigned_off_loopback_needs_leave() {
        let remote = "nats://10.0.0.5:4222";
        let e = check_unsigned(&ControlConfig::default(), remote).unwrap_err();
        assert!(
            e.to_string().contains("control.allow_unsigned_remote"),
            "{e}"
        );
        let allowed = ControlConfig {
            allow_unsigned_remote: true,
            ..ControlConfig::default()
        };
        check_unsigned(&allowed, remote).expect("allowed");
        let keyed = ControlConfig {
            key: Some(Secret::new("k")),
            ..ControlConfig::default()
        };
        check_unsigned(&keyed, remote).expect("signed");
        check_unsigned(&ControlConfig::default(), "redis://127.0.0.1:6379").expect("local");
    }
}
