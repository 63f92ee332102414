//! The crate's error type.

use std::net::SocketAddr;

/// What can go wrong while starting or controlling the sim.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listener could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    ScenarioRead {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A scenario file is not valid TOML/JSON of the expected shape.
    #[error("invalid scenario {path}: {message}")]
    ScenarioParse {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// An injected event or fault names something that does not exist.
    #[error("{0}")]
    BadRequest(String),
}
