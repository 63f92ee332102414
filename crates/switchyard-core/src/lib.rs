//! Switchyard's data model, free of I/O and async runtimes so that every other part, the
//! fuzzers and the benchmarks can use it cheaply.
//!
//! - [`topic`]: [`Topic`] and [`Pattern`], NATS-style wildcards, translation to Redis globs
//!   and NATS subjects.
//! - [`route`]: routing ids, event name and raw payload from a gateway frame, in one lazy pass.
//! - [`template`]: turning routing ids into an inbound topic (Bytebot's scheme by default).
//! - [`envelope`]: the JSON envelope events are published in, with `d` spliced in raw.
//! - [`control`]: the service control ops and the proxy mark.
//! - [`gateway_proto`]: Discord's gateway protocol as a server speaks it (client frames, close
//!   codes, intents, compression), for the fake Discord and the face.
//! - [`outbound`]: the outbound contract: topics, messages, REST requests, gateway commands,
//!   answers and error reports.

pub mod control;
pub mod envelope;
pub mod gateway_proto;
pub mod outbound;
mod overlap;
pub mod route;
pub mod template;
pub mod token;
pub mod topic;

pub use control::{ControlMessage, ControlOp};
pub use envelope::{Envelope, Source};
pub use route::{Dispatch, RoutingIds, parse_dispatch};
pub use template::{TopicContext, TopicTemplate};
pub use topic::{NameError, Pattern, Topic};
