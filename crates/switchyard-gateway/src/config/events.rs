//! Discord's dispatch event names, for checking the names given to the event filter: a typo
//! there silently filters everything, or nothing.

/// Discord's dispatch event names, for checking the names given to the event filter: every
/// name twilight-model 0.18 knows, plus newer ones it does not.
pub const KNOWN_EVENTS: &[&str] = &[
    "APPLICATION_COMMAND_PERMISSIONS_UPDATE",
    "AUTO_MODERATION_ACTION_EXECUTION",
    "AUTO_MODERATION_RULE_CREATE",
    "AUTO_MODERATION_RULE_DELETE",
    "AUTO_MODERATION_RULE_UPDATE",
    "CHANNEL_CREATE",
    "CHANNEL_DELETE",
    "CHANNEL_PINS_UPDATE",
    "CHANNEL_UPDATE",
    "ENTITLEMENT_CREATE",
    "ENTITLEMENT_DELETE",
    "ENTITLEMENT_UPDATE",
    "GUILD_AUDIT_LOG_ENTRY_CREATE",
    "GUILD_BAN_ADD",
    "GUILD_BAN_REMOVE",
    "GUILD_CREATE",
    "GUILD_DELETE",
    "GUILD_EMOJIS_UPDATE",
    "GUILD_INTEGRATIONS_UPDATE",
    "GUILD_MEMBER_ADD",
    "GUILD_MEMBER_REMOVE",
    "GUILD_MEMBER_UPDATE",
    "GUILD_MEMBERS_CHUNK",
    "GUILD_ROLE_CREATE",
    "GUILD_ROLE_DELETE",
    "GUILD_ROLE_UPDATE",
    "GUILD_SCHEDULED_EVENT_CREATE",
    "GUILD_SCHEDULED_EVENT_DELETE",
    "GUILD_SCHEDULED_EVENT_UPDATE",
    "GUILD_SCHEDULED_EVENT_USER_ADD",
    "GUILD_SCHEDULED_EVENT_USER_REMOVE",
    "GUILD_SOUNDBOARD_SOUND_CREATE",
    "GUILD_SOUNDBOARD_SOUND_DELETE",
    "GUILD_SOUNDBOARD_SOUND_UPDATE",
    "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
    "GUILD_STICKERS_UPDATE",
    "GUILD_UPDATE",
    "INTEGRATION_CREATE",
    "INTEGRATION_DELETE",
    "INTEGRATION_UPDATE",
    "INTERACTION_CREATE",
    "INVITE_CREATE",
    "INVITE_DELETE",
    "MESSAGE_CREATE",
    "MESSAGE_DELETE",
    "MESSAGE_DELETE_BULK",
    "MESSAGE_POLL_VOTE_ADD",
    "MESSAGE_POLL_VOTE_REMOVE",
    "MESSAGE_REACTION_ADD",
    "MESSAGE_REACTION_REMOVE",
    "MESSAGE_REACTION_REMOVE_ALL",
    "MESSAGE_REACTION_REMOVE_EMOJI",
    "MESSAGE_UPDATE",
    "PRESENCE_UPDATE",
    "RATE_LIMITED",
    "READY",
    "RESUMED",
    "SOUNDBOARD_SOUNDS",
    "STAGE_INSTANCE_CREATE",
    "STAGE_INSTANCE_DELETE",
    "STAGE_INSTANCE_UPDATE",
    "SUBSCRIPTION_CREATE",
    "SUBSCRIPTION_DELETE",
    "SUBSCRIPTION_UPDATE",
    "THREAD_CREATE",
    "THREAD_DELETE",
    "THREAD_LIST_SYNC",
    "THREAD_MEMBER_UPDATE",
    "THREAD_MEMBERS_UPDATE",
    "THREAD_UPDATE",
    "TYPING_START",
    "UNAVAILABLE_GUILD",
    "USER_UPDATE",
    "VOICE_CHANNEL_EFFECT_SEND",
    "VOICE_SERVER_UPDATE",
    "VOICE_STATE_UPDATE",
    "WEBHOOKS_UPDATE",
];

/// An event name given to a filter that Discord is not known to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEvent {
    /// The name as given.
    pub name: String,
    /// The closest known name, when one is close enough to be a likely typo.
    pub nearest: Option<&'static str>,
}

impl std::fmt::Display for UnknownEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not a known Discord event name", self.name)?;
        match self.nearest {
            Some(n) => write!(f, " (did you mean {n}?)"),
            None => Ok(()),
        }
    }
}

/// The names among `names` that are not in `KNOWN_EVENTS` (compared in upper case), each
/// with the nearest known name. Unknown names are not errors: Discord adds events.
pub fn unknown_events<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<UnknownEvent> {
    names
        .into_iter()
        .filter(|n| !KNOWN_EVENTS.contains(&n.trim().to_ascii_uppercase().as_str()))
        .map(|n| {
            let upper = n.trim().to_ascii_uppercase();
            let nearest = KNOWN_EVENTS
                .iter()
                .map(|k| (edit_distance(&upper, k), *k))
                .min()
                .filter(|(d, _)| *d <= 3)
                .map(|(_, k)| k);
            UnknownEvent {
                name: n.to_owned(),
                nearest,
            }
        })
        .collect()
}

/// Levenshtein distance over bytes (event names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_event_names_are_reported_with_the_nearest() {
        let unknown = unknown_events([
            "MESSAGE_CREATE",
            "message_update",
            "MESAGE_CRATE",
            "BRAND_NEW_EVENT",
        ]);
        assert_eq!(
            unknown,
            [
                UnknownEvent {
                    name: "MESAGE_CRATE".into(),
                    nearest: Some("MESSAGE_CREATE")
                },
                UnknownEvent {
                    name: "BRAND_NEW_EVENT".into(),
                    nearest: None
                },
            ]
        );
        assert_eq!(
            unknown[0].to_string(),
            "\"MESAGE_CRATE\" is not a known Discord event name (did you mean MESSAGE_CREATE?)"
        );
        assert_eq!(
            unknown_events(["GUILD_MEMBER_CHUNK"])[0].nearest,
            Some("GUILD_MEMBERS_CHUNK")
        );
    }

    #[test]
    fn known_events_agree_with_twilight() {
        use serde::Deserialize as _;
        use serde::de::IntoDeserializer as _;
        use serde::de::value::{Error, StrDeserializer};
        let newer = [
            "GUILD_SOUNDBOARD_SOUND_CREATE",
            "GUILD_SOUNDBOARD_SOUND_DELETE",
            "GUILD_SOUNDBOARD_SOUND_UPDATE",
            "GUILD_SOUNDBOARD_SOUNDS_UPDATE",
            "SOUNDBOARD_SOUNDS",
            "VOICE_CHANNEL_EFFECT_SEND",
        ];
        for name in KNOWN_EVENTS {
            let de: StrDeserializer<'_, Error> = name.into_deserializer();
            let known = twilight_gateway::EventType::deserialize(de)
                .ok()
                .and_then(|t| t.name());
            assert_eq!(known.is_some(), !newer.contains(name), "{name}");
        }
    }
}
