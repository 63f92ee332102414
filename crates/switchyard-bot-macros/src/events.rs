//! The table of event macros: each names the SDK's marker type (in
//! `switchyard_bot::events`) and whether the event has text a regex can match.

/// One event macro.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EventMacro {
    /// The macro's name, such as `on_message`.
    pub(crate) name: &'static str,
    /// The marker type in `switchyard_bot::events`.
    pub(crate) marker: &'static str,
    /// Whether a regex can be given.
    pub(crate) text: bool,
}

/// Every typed event macro.
pub(crate) const EVENTS: [EventMacro; 10] = [
    EventMacro {
        name: "on_message",
        marker: "MessageCreate",
        text: true,
    },
    EventMacro {
        name: "on_message_update",
        marker: "MessageUpdate",
        text: true,
    },
    EventMacro {
        name: "on_message_delete",
        marker: "MessageDeleted",
        text: false,
    },
    EventMacro {
        name: "on_reaction_add",
        marker: "ReactionAdd",
        text: true,
    },
    EventMacro {
        name: "on_reaction_remove",
        marker: "ReactionRemove",
        text: true,
    },
    EventMacro {
        name: "on_member_add",
        marker: "MemberJoin",
        text: false,
    },
    EventMacro {
        name: "on_member_remove",
        marker: "MemberLeave",
        text: false,
    },
    EventMacro {
        name: "on_guild_create",
        marker: "GuildAvailable",
        text: false,
    },
    EventMacro {
        name: "on_typing_start",
        marker: "Typing",
        text: false,
    },
    EventMacro {
        name: "on_interaction",
        marker: "InteractionCreate",
        text: true,
    },
];

/// The name of the catch-all macro.
pub(crate) const CATCH_ALL: &str = "on_event";

/// Whether an attribute with this last path segment declares a handler.
pub(crate) fn is_handler_attr(name: &str) -> bool {
    name == CATCH_ALL || EVENTS.iter().any(|e| e.name == name)
}

/// The macro named `name`.
pub(crate) fn lookup(name: &str) -> Option<EventMacro> {
    EVENTS.iter().copied().find(|e| e.name == name)
}
