//! The outbound contract, in one place so that the gateway, the SDK and the docs agree: the
//! topics a bot is answered on, what may be published on them (a message, a REST request or a
//! gateway command), the answer the gateway publishes on `reply_to`, and the report it
//! publishes on `errors.…`. `docs/wire-format.md` describes the same shapes for other
//! languages.
//!
//! - [`OutboundTopics`]: `{prefix}.{guild}.{channel}.{user}`, from a bot's outbound pattern.
//! - [`parse`]: one outbound payload into an [`Outbound`], or a [`Rejected`] that already
//!   carries the `reply_to` to tell.
//! - [`GatewayCommand`]: presence (op 3), voice state (op 4) and member requests (op 8), and
//!   the [`CommandTopics`] on which the process holding a shard reads them.
//! - [`Answer`] and [`ErrorReport`]: what comes back.

mod answer;
mod command;
mod message;
mod topics;

pub use answer::{Answer, ErrorKind, ErrorReport};
pub use command::{
    CommandMessage, GatewayCommand, Intent, MAX_NONCE_LEN, MembersRequest, PresenceStatus,
    PresenceUpdate, Snowflake, VoiceStateUpdate, shard_of,
};
pub use message::{Outbound, Rejected, RestCall, parse, parse_command, parse_routed};
pub use topics::{
    CommandTopics, DEFAULT_OUTBOUND_PREFIX, DEFAULT_REPLY_PREFIX, ERRORS_PREFIX, OutboundTopics,
    ReplyNamespace, segment_of, topic_channel,
};
