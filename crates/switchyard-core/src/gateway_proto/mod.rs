//! Discord's gateway protocol as a server speaks it, for Switchyard's two gateway servers (the
//! fake Discord and the Discord-compatible face): client frames decoded and checked
//! ([`frame`]), the close codes ([`close`]), which intent each event needs ([`intents`]), the
//! connection's query string ([`query`]) and, with the `compress` feature, transport and
//! payload compression ([`compress`]).

pub mod close;
#[cfg(feature = "compress")]
pub mod compress;
pub mod frame;
pub mod intents;
pub mod query;
