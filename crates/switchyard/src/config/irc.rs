//! `[[irc]]`: the IRC networks `switchyard run` holds beside its Discord shards, one table
//! each. `switchyard_irc::IrcConfig` defines every key and its default; `docs/irc.md` shows
//! them in use.

use switchyard_irc::IrcConfig;

/// Checks every network, and that no two share a name; the message names the network and
/// the key.
pub(super) fn validate(networks: &[IrcConfig]) -> anyhow::Result<()> {
    switchyard_irc::validate(networks).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn networks_load_and_bad_ones_name_the_key() {
        let text = r##"
[[irc]]
network = "libera"
server = "irc.libera.chat:6697"
tls = true
nick = "sybot"
channels = ["#rust", "#switchyard"]
sasl = { username = "sybot", password = "hunter2" }

[[irc]]
network = "oftc"
server = "irc.oftc.net:6667"
nick = "sybot"
send_interval_ms = 1000
"##;
        let config = Config::from_sources(text, "t", Vec::new()).expect("valid");
        assert_eq!(config.irc.len(), 2);
        assert_eq!(config.irc[0].channels, ["#rust", "#switchyard"]);
        assert_eq!(config.irc[1].send_interval_ms, 1000);
        assert_eq!(config.irc[1].send_burst, 5, "defaults fill the rest");
        assert!(!format!("{config:?}").contains("hunter2"), "never printed");
        let e = Config::from_sources(
            "[[irc]]\nnetwork = \"a\"\nserver = \"h:1\"\nnick = \"n\"\nchanels = []\n",
            "t",
            Vec::new(),
        )
        .expect_err("typo");
        assert!(e.to_string().contains("chanels"), "{e}");
        let twice = "[[irc]]\nnetwork = \"a\"\nserver = \"h:1\"\nnick = \"n\"\n".repeat(2);
        let e = Config::from_sources(&twice, "t", Vec::new()).expect_err("twice");
        assert!(e.to_string().contains("\"a\""), "{e}");
        let e = Config::from_sources(
            "[[irc]]\nnetwork = \"a b\"\nserver = \"h:1\"\nnick = \"n\"\n",
            "t",
            Vec::new(),
        )
        .expect_err("bad name");
        assert!(e.to_string().contains("network"), "{e}");
    }
}
