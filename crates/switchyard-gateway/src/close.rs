//! Discord's close-code table (`discord-protocol.md` A2): what each code means and whether the
//! shard resumes, starts a new session, or stops with an error that names the cause.

use twilight_gateway::Intents;

/// What a close code asks of the shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect and RESUME the session.
    Resume,
    /// Reconnect with a new session (IDENTIFY); events in between are lost.
    NewSession,
    /// Stop this shard: reconnecting cannot succeed. The text names the cause and the fix.
    Fatal(String),
}

/// The meaning of a Discord close code, for logs.
pub fn meaning(code: u16) -> &'static str {
    match code {
        1000 | 1001 => "normal closure by Discord (the session is kept; a RESUME is tried)",
        4000 => "unknown error",
        4001 => "unknown opcode",
        4002 => "decode error",
        4003 => "not authenticated",
        4004 => "authentication failed",
        4005 => "already authenticated",
        4007 => "invalid seq on resume",
        4008 => "rate limited (too many gateway commands)",
        4009 => "session timed out",
        4010 => "invalid shard",
        4011 => "sharding required",
        4012 => "invalid API version",
        4013 => "invalid intents",
        4014 => "disallowed intents",
        _ => "unknown close code",
    }
}

/// Every privileged intent.
pub fn privileged() -> Intents {
    Intents::GUILD_MEMBERS | Intents::GUILD_PRESENCES | Intents::MESSAGE_CONTENT
}

/// The names of the flags set in `intents`, such as `MESSAGE_CONTENT`.
pub fn intent_names(intents: Intents) -> Vec<&'static str> {
    intents.iter_names().map(|(name, _)| name).collect()
}

/// What `code` asks for, given the intents this shard requested and its shard id and count.
///
/// 1000 and 1001 invalidate the session only when the *client* sends them. Sent by Discord
/// (a server restart, for example), twilight-gateway 0.18 keeps the session and RESUMEs, as
/// discord.py does; if Discord no longer knows the session it answers INVALID_SESSION(false)
/// and a new one is identified then. So they are [`CloseAction::Resume`].
pub fn classify(code: u16, intents: Intents, shard: [u32; 2]) -> CloseAction {
    match code {
        4007 | 4009 => CloseAction::NewSession,
        4004 => CloseAction::Fatal(
            "close 4004 authentication failed: Discord rejected the bot token; set a valid token (DISCORD_TOKEN or gateway.token) from the Developer Portal → your application → Bot → Reset Token".into(),
        ),
        4010 => CloseAction::Fatal(format!(
            "close 4010 invalid shard: shard {} of {} is not valid for this bot; check gateway.shards and gateway.shard_range (ids must be below the total)",
            shard[0], shard[1]
        )),
        4011 => CloseAction::Fatal(format!(
            "close 4011 sharding required: {} shard(s) hold too many guilds; raise gateway.shards or leave it unset to use the count from GET /gateway/bot",
            shard[1]
        )),
        4012 => CloseAction::Fatal(
            "close 4012 invalid API version: the gateway URL must use v=10; check gateway.gateway_url".into(),
        ),
        4013 => CloseAction::Fatal(format!(
            "close 4013 invalid intents: Discord does not accept the intent bits {:#x} (gateway.intents = {:?})",
            intents.bits(),
            intent_names(intents)
        )),
        4014 => {
            let wanted = intent_names(intents & privileged());
            CloseAction::Fatal(format!(
                "close 4014 disallowed intents: this bot is not approved for the privileged intent(s) {wanted:?} it requested; enable them in the Discord Developer Portal → your application → Bot → Privileged Gateway Intents, or remove them from gateway.intents"
            ))
        }
        _ => CloseAction::Resume,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let i = Intents::GUILDS | Intents::MESSAGE_CONTENT;
        for code in [1000, 1001, 4000, 4001, 4002, 4003, 4005, 4008, 1006, 4999] {
            assert_eq!(classify(code, i, [0, 1]), CloseAction::Resume, "{code}");
        }
        for code in [4007, 4009] {
            assert_eq!(classify(code, i, [0, 1]), CloseAction::NewSession, "{code}");
        }
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert!(
                matches!(classify(code, i, [0, 1]), CloseAction::Fatal(_)),
                "{code}"
            );
        }
        let CloseAction::Fatal(text) = classify(4014, i, [0, 1]) else {
            panic!("fatal")
        };
        assert!(text.contains("MESSAGE_CONTENT"), "{text}");
        assert!(!text.contains("\"GUILDS\""), "{text}");
        assert!(text.contains("Privileged Gateway Intents"), "{text}");
    }
}
