//! The RESP listener: the part of the Redis protocol that pub/sub clients use, so that
//! `redis-cli` and any Redis client library can publish to and consume from the embedded
//! broker with no Redis installed.
//!
//! On this port the semantics are Redis's own, not the Broker API's: channel names are
//! opaque bytes and PSUBSCRIBE globs match the whole name (`*` crosses dots). Messages
//! published through the Broker API reach RESP subscribers on the channel named by the topic;
//! a RESP `PUBLISH` reaches Broker-API subscribers when its channel is a valid topic.
//!
//! Commands: PUBLISH, SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBSUB (CHANNELS,
//! NUMSUB, NUMPAT, SHARDCHANNELS, SHARDNUMSUB, HELP), PING, QUIT, RESET, HELLO 2/3, AUTH,
//! SELECT 0, CLIENT (ID, GETNAME, SETNAME, SETINFO), a minimal INFO and COMMAND. Any other
//! Redis command is answered with Redis's own error texts (arity, subscribed mode, unknown).
//!
//! It binds 127.0.0.1 by default; any other address requires a password, and clients then
//! authenticate with `AUTH` or `HELLO ... AUTH default <password>`.
//!
//! Protocol errors are answered with `-ERR Protocol error: ...` as Redis does, logged,
//! counted in `switchyard_resp_errors_total{kind}`, and close only the offending connection.

mod codec;
mod commands;
mod conn;
#[cfg(test)]
mod fuzz_driver;
mod pubsub;
mod redis_commands;
mod reply;
mod server;

pub use server::{
    DEFAULT_RESP_PORT, RespConfig, RespError, RespServer, RespShutdown, RunningRespServer,
};
