//! The SDK for bot logic: declarative handlers over any broker.
//!
//! A bot is a set of async functions bound to Discord events — optionally to a regex over the
//! event's text, whose captures arrive as typed arguments — served with one [`serve`] call.
//! Events come from the gateway on `inbound.discord.{guild}.{channel}.{user}`; answers go to
//! `outbound.discord.{guild}.{channel}.{user}`, where the gateway turns them into Discord REST
//! calls. Restarting a bot never touches the Discord connection. Messages from IRC
//! (`inbound.irc.{network}.{channel}.{nick}`, from `switchyard run`'s `[[irc]]` networks) come
//! in the same shape and reach the same handlers; [`Context::platform`] tells them apart and
//! a reply goes back to the platform it came from. Gateway commands (presence,
//! voice state, member requests) go the same way ([`command`]), and the process holding the
//! guild's shard sends them. The second bot of a `[[gateway.bots]]` deployment is answered on
//! its own outbound topics ([`Bot::outbound`]).
//!
//! ```no_run
//! use switchyard_bot::prelude::*;
//!
//! #[switchyard_bot::bot(name = "echo")]
//! mod echo {
//!     use switchyard_bot::prelude::*;
//!
//!     /// `,echo hello` → "ok, you said: hello"
//!     #[on_message(r",echo (.*)")]
//!     async fn echo(ctx: Context<Message>, text: String) -> Result<(), BotError> {
//!         ctx.reply(format!("ok, you said: {text}")).await
//!     }
//!
//!     /// `,roll 20` → a number from 1 to 20 (`,roll x` is reported as a bad capture).
//!     #[on_message(r"^,roll (\d+)$")]
//!     async fn roll(ctx: Context<Message>, sides: u32) -> Result<(), BotError> {
//!         ctx.send(format!("{}", 1 + ctx.event().id.get() as u32 % sides.max(1))).await
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), ServeError> {
//!     serve([echo::bot().worker_group("echo")], ServeOptions::from_env()).await
//! }
//! ```
//!
//! # Checked at compile time
//!
//! A pattern that does not compile is an error pointing at the macro's argument
//! ("this pattern does not compile: … unclosed group"), and so is a capture argument
//! without a group:
//!
//! ```compile_fail
//! use switchyard_bot::prelude::*;
//! #[on_message(r",echo (.*")]
//! async fn echo(ctx: Context<Message>, text: String) {}
//! ```
//!
//! ```compile_fail
//! use switchyard_bot::prelude::*;
//! #[on_message(r",echo (.*)")]
//! async fn echo(ctx: Context<Message>, text: String, times: u32) {}
//! ```
//!
//! The same handler, correct:
//!
//! ```
//! use switchyard_bot::prelude::*;
//! #[on_message(r",echo (.*)")]
//! async fn echo(ctx: Context<Message>, text: String) {}
//! assert_eq!(echo().pattern(), Some(",echo (.*)"));
//! ```
//!
//! - [`Bot`], [`Handler`]: bots and their handlers, built by the macros or by hand.
//! - [`Context`]: the typed event and the reply helpers.
//! - [`serve`], [`ServeOptions`], [`Shutdown`]: running bots; IDENTIFY, SHUTDOWN, REBOOT,
//!   signals.
//! - [`events`]: the typed events the macros bind to.
//! - The macros ([`on_message`], [`on_reaction_add`], [`on_event`], [`bot`]...) come from
//!   `switchyard-bot-macros`.

mod bot;
pub mod command;
mod context;
mod epochs;
mod error;
pub mod event;
mod handler;
pub mod lifecycle;
mod nonce;
mod rest;
mod runner;
mod serve;

pub use bot::{Bot, ErrorHook, ErrorReport, GroupKind, WorkerGroup};
pub use context::Context;
pub use error::{BotError, BotFailure, BotStartError, BoxError, HandlerError, ServeError};
pub use handler::{Captures, Handler, HandlerOutput};
pub use rest::{RestRequest, RestResponse};
pub use serve::{ServeOptions, Shutdown, serve};
pub use switchyard_bot_macros::{
    bot, on_event, on_guild_create, on_interaction, on_member_add, on_member_remove, on_message,
    on_message_delete, on_message_update, on_reaction_add, on_reaction_remove, on_typing_start,
};
pub use switchyard_broker::{Broker, BrokerOptions};
pub use twilight_model;

/// The typed events (marker types implementing [`event::Event`]).
pub mod events {
    pub use crate::event::{
        GuildAvailable, InteractionCreate, MemberJoin, MemberLeave, MessageCreate, MessageDeleted,
        MessageUpdate, ReactionAdd, ReactionRemove, Typing,
    };
}

/// Everything a bot module needs: `use switchyard_bot::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Bot, BotError, Captures, Context, Handler, HandlerError, RestRequest, ServeError,
        ServeOptions, Shutdown, bot, on_event, on_guild_create, on_interaction, on_member_add,
        on_member_remove, on_message, on_message_delete, on_message_update, on_reaction_add,
        on_reaction_remove, on_typing_start, serve,
    };
    pub use twilight_model::application::interaction::Interaction;
    pub use twilight_model::channel::Message;
    pub use twilight_model::gateway::GatewayReaction;
    pub use twilight_model::gateway::payload::incoming::{
        GuildCreate, MemberAdd, MemberRemove, MessageDelete, TypingStart,
    };
}

/// Used by the macros' expansions; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::handler::HandlerOutput;
    pub use std::borrow::Cow;
    pub use std::option::Option;
    pub use std::result::Result;
}
