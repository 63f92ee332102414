//! Which intent each dispatch event needs, validation of the intents a client asks for, and
//! the MESSAGE_CONTENT rules.

use super::close::CloseReason;

/// The GUILDS intent bit.
pub const GUILDS: u64 = 1 << 0;
/// The GUILD_MEMBERS intent bit.
pub const GUILD_MEMBERS: u64 = 1 << 1;
/// The GUILD_PRESENCES intent bit.
pub const GUILD_PRESENCES: u64 = 1 << 8;
/// The MESSAGE_CONTENT intent bit.
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// The privileged intents: GUILD_MEMBERS, GUILD_PRESENCES and MESSAGE_CONTENT.
pub const PRIVILEGED_INTENTS: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;

/// Every intent bit Discord defines.
pub const KNOWN_INTENTS: u64 = 0x1_FFFF | (1 << 20) | (1 << 21) | (1 << 24) | (1 << 25);

/// Checks requested intents: unknown bits give 4013, unapproved privileged bits 4014.
pub fn validate(intents: u64, approved_privileged: u64) -> Result<(), CloseReason> {
    if intents & !KNOWN_INTENTS != 0 {
        return Err(CloseReason::INVALID_INTENTS);
    }
    if intents & PRIVILEGED_INTENTS & !approved_privileged != 0 {
        return Err(CloseReason::DISALLOWED_INTENTS);
    }
    Ok(())
}

/// The intent bit an event needs, or `None` when it is always sent. `in_guild` tells guild
/// events from DM events for the message, reaction, typing and poll families.
pub fn required(event: &str, in_guild: bool) -> Option<u64> {
    let bit = |guild: u32, dm: u32| Some(1u64 << if in_guild { guild } else { dm });
    match event {
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" | "MESSAGE_DELETE_BULK" => {
            bit(9, 12)
        }
        "MESSAGE_REACTION_ADD"
        | "MESSAGE_REACTION_REMOVE"
        | "MESSAGE_REACTION_REMOVE_ALL"
        | "MESSAGE_REACTION_REMOVE_EMOJI" => bit(10, 13),
        "TYPING_START" => bit(11, 14),
        "MESSAGE_POLL_VOTE_ADD" | "MESSAGE_POLL_VOTE_REMOVE" => bit(24, 25),
        "CHANNEL_PINS_UPDATE" => bit(0, 12),
        "GUILD_CREATE"
        | "GUILD_UPDATE"
        | "GUILD_DELETE"
        | "GUILD_ROLE_CREATE"
        | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE"
        | "CHANNEL_CREATE"
        | "CHANNEL_UPDATE"
        | "CHANNEL_DELETE"
        | "THREAD_CREATE"
        | "THREAD_UPDATE"
        | "THREAD_DELETE"
        | "THREAD_LIST_SYNC"
        | "THREAD_MEMBER_UPDATE"
        | "STAGE_INSTANCE_CREATE"
        | "STAGE_INSTANCE_UPDATE"
        | "STAGE_INSTANCE_DELETE" => Some(GUILDS),
        "GUILD_MEMBER_ADD"
        | "GUILD_MEMBER_UPDATE"
        | "GUILD_MEMBER_REMOVE"
        | "THREAD_MEMBERS_UPDATE" => Some(GUILD_MEMBERS),
        "GUILD_AUDIT_LOG_ENTRY_CREATE" | "GUILD_BAN_ADD" | "GUILD_BAN_REMOVE" => Some(1 << 2),
        "GUILD_EMOJIS_UPDATE"
        | "GUILD_STICKERS_UPDATE"
        | "GUILD_SOUNDBOARD_SOUND_CREATE"
        | "GUILD_SOUNDBOARD_SOUND_UPDATE"
        | "GUILD_SOUNDBOARD_SOUND_DELETE"
        | "GUILD_SOUNDBOARD_SOUNDS_UPDATE" => Some(1 << 3),
        "GUILD_INTEGRATIONS_UPDATE"
        | "INTEGRATION_CREATE"
        | "INTEGRATION_UPDATE"
        | "INTEGRATION_DELETE" => Some(1 << 4),
        "WEBHOOKS_UPDATE" => Some(1 << 5),
        "INVITE_CREATE" | "INVITE_DELETE" => Some(1 << 6),
        "VOICE_STATE_UPDATE" | "VOICE_CHANNEL_EFFECT_SEND" => Some(1 << 7),
        "PRESENCE_UPDATE" => Some(GUILD_PRESENCES),
        "GUILD_SCHEDULED_EVENT_CREATE"
        | "GUILD_SCHEDULED_EVENT_UPDATE"
        | "GUILD_SCHEDULED_EVENT_DELETE"
        | "GUILD_SCHEDULED_EVENT_USER_ADD"
        | "GUILD_SCHEDULED_EVENT_USER_REMOVE" => Some(1 << 16),
        "AUTO_MODERATION_RULE_CREATE"
        | "AUTO_MODERATION_RULE_UPDATE"
        | "AUTO_MODERATION_RULE_DELETE" => Some(1 << 20),
        "AUTO_MODERATION_ACTION_EXECUTION" => Some(1 << 21),
        _ => None,
    }
}

/// Blanks the content fields of a message payload, as Discord does for a bot without
/// MESSAGE_CONTENT.
pub fn strip_content(d: &mut serde_json::Value) {
    if let Some(o) = d.as_object_mut() {
        for (k, empty) in [
            ("content", serde_json::json!("")),
            ("embeds", serde_json::json!([])),
            ("attachments", serde_json::json!([])),
            ("components", serde_json::json!([])),
        ] {
            if o.contains_key(k) {
                o.insert(k.to_owned(), empty);
            }
        }
        o.remove("poll");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intent_validation() {
        assert!(validate(GUILDS | (1 << 9) | MESSAGE_CONTENT, PRIVILEGED_INTENTS).is_ok());
        assert_eq!(
            validate(1 << 17, PRIVILEGED_INTENTS).map_err(|e| e.code),
            Err(4013)
        );
        assert_eq!(validate(MESSAGE_CONTENT, 0).map_err(|e| e.code), Err(4014));
    }

    #[test]
    fn guild_and_dm_families() {
        assert_eq!(required("MESSAGE_CREATE", true), Some(1 << 9));
        assert_eq!(required("MESSAGE_CREATE", false), Some(1 << 12));
        assert_eq!(required("READY", false), None);
        assert_eq!(required("INTERACTION_CREATE", true), None);
    }
}
