//! The query string of a gateway connection: `v`, `encoding` and `compress`.

use super::close::CloseReason;

/// What the query string of the upgrade request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnParams {
    /// Transport compression.
    pub transport: Transport,
}

/// Parses `v`, `encoding` and `compress`. A bad version is 4012; ETF is not served (4002).
pub fn parse_query(query: Option<&str>) -> Result<ConnParams, CloseReason> {
    let mut transport = Transport::None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "v" if !matches!(v, "9" | "10") => return Err(CloseReason::INVALID_VERSION),
            "encoding" if v == "etf" => return Err(CloseReason::ETF),
            "encoding" if !matches!(v, "json" | "") => return Err(CloseReason::DECODE),
            "compress" => transport = Transport::parse(Some(v)).unwrap_or(Transport::None),
            _ => {}
        }
    }
    Ok(ConnParams { transport })
}

/// Transport compression asked for in the `compress` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// None: text frames.
    None,
    /// `zlib-stream`.
    Zlib,
    /// `zstd-stream`.
    Zstd,
}

impl Transport {
    /// Parses the query value; `None` means an unsupported value.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("") => Some(Self::None),
            Some("zlib-stream") => Some(Self::Zlib),
            Some("zstd-stream") => Some(Self::Zstd),
            Some(_) => None,
        }
    }
}
