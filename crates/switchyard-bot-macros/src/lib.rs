//! Attribute macros for switchyard-bot's declarative handlers. Use them through
//! `switchyard_bot` (which re-exports them); the generated code names `::switchyard_bot`.
//!
//! - `#[on_message(r",echo (.*)")]` and the other event macros turn an `async fn` whose first
//!   argument is the context into a function returning a `switchyard_bot::Handler`; each
//!   further argument receives one regex capture group, parsed with `FromStr` (`Option<T>`
//!   for a group that may not take part).
//! - `#[on_event("TYPE")]` catches any dispatch by name.
//! - `#[bot]` on an inline module adds `pub fn bot() -> switchyard_bot::Bot` with every
//!   handler of the module.
//!
//! A pattern that does not compile, a capture argument without a group, or an event name
//! that is not one, is a compile error pointing at the macro's argument.

mod events;
mod expand;
mod validate;

use proc_macro::TokenStream;

fn handler(which: &str, attr: TokenStream, item: TokenStream) -> TokenStream {
    let result = syn::parse::<syn::ItemFn>(item)
        .and_then(|func| expand::handler(expand::trigger(which, attr.into())?, func));
    match result {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

macro_rules! event_macros {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[proc_macro_attribute]
        pub fn $name(attr: TokenStream, item: TokenStream) -> TokenStream {
            handler(stringify!($name), attr, item)
        }
    )*};
}

event_macros!(
    /// `MESSAGE_CREATE`, context `Context<Message>`; optional regex over the content, its
    /// groups passed as the following arguments. Bots' messages are skipped.
    on_message,
    /// `MESSAGE_UPDATE`, context `Context<Message>`; optional regex over the new content.
    on_message_update,
    /// `MESSAGE_DELETE`, context `Context<MessageDelete>`.
    on_message_delete,
    /// `MESSAGE_REACTION_ADD`, context `Context<GatewayReaction>`; optional regex over the
    /// emoji (the character, or a custom emoji's name).
    on_reaction_add,
    /// `MESSAGE_REACTION_REMOVE`, context `Context<GatewayReaction>`; optional regex over the
    /// emoji.
    on_reaction_remove,
    /// `GUILD_MEMBER_ADD`, context `Context<MemberAdd>`.
    on_member_add,
    /// `GUILD_MEMBER_REMOVE`, context `Context<MemberRemove>`.
    on_member_remove,
    /// `GUILD_CREATE`, context `Context<GuildCreate>`.
    on_guild_create,
    /// `TYPING_START`, context `Context<TypingStart>`.
    on_typing_start,
    /// `INTERACTION_CREATE`, context `Context<Interaction>`; optional regex over the command
    /// name (or component custom id).
    on_interaction,
    /// Any dispatch by name: `#[on_event("GUILD_ROLE_CREATE")]`; the context's type parameter
    /// is what the payload is parsed into (`serde_json::Value` takes anything).
    on_event,
);

/// On an inline module: adds `pub fn bot() -> switchyard_bot::Bot` holding every handler
/// declared in it. The bot is named after the module, or `#[bot(name = "echo")]`.
#[proc_macro_attribute]
pub fn bot(attr: TokenStream, item: TokenStream) -> TokenStream {
    match syn::parse::<syn::ItemMod>(item).and_then(|m| expand::module(attr.into(), m)) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
