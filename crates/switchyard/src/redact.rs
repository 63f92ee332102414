//! Redaction of credentials in URLs, so that logs and errors never print a password or token.
//! One implementation serves the whole workspace: the broker crate's.

pub use switchyard_broker::redact_url;
