//! How the `[gateway]` keys that are not plain numbers, strings or lists read: each checks its
//! value as it is read, so that an error names the key it came from.

use std::collections::HashSet;
use std::time::Duration;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use switchyard_core::outbound::ReplyNamespace;
use switchyard_core::{Pattern, TopicTemplate};
use twilight_gateway::Intents;

use crate::route_allowlist::RouteAllowlist;
use crate::secret::Secret;

pub(crate) fn name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Err(D::Error::custom("must not be empty"));
    }
    Ok(name)
}

pub(crate) fn secret<'de, D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
    String::deserialize(d).map(Secret::new)
}

pub(crate) fn optional_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    Option::<String>::deserialize(d).map(|s| s.map(Secret::new))
}

pub(crate) fn intents<'de, D: Deserializer<'de>>(d: D) -> Result<Intents, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    super::parse_intents(names.iter().map(String::as_str)).map_err(D::Error::custom)
}

pub(crate) fn shard_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    match Option::<u32>::deserialize(d)? {
        Some(0) => Err(D::Error::custom("must be at least 1")),
        count => Ok(count),
    }
}

pub(crate) fn event_names<'de, D: Deserializer<'de>>(d: D) -> Result<HashSet<String>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names
        .iter()
        .map(|n| n.trim().to_ascii_uppercase())
        .collect())
}

pub(crate) fn template<'de, D: Deserializer<'de>>(d: D) -> Result<TopicTemplate, D::Error> {
    TopicTemplate::parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

pub(crate) fn pattern<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let pattern = String::deserialize(d)?;
    Pattern::new(&pattern).map_err(D::Error::custom)?;
    Ok(pattern)
}

pub(crate) fn routes<'de, D: Deserializer<'de>>(d: D) -> Result<RouteAllowlist, D::Error> {
    let entries = Vec::<String>::deserialize(d)?;
    RouteAllowlist::parse(entries.iter().map(String::as_str)).map_err(D::Error::custom)
}

pub(crate) fn replies<'de, D: Deserializer<'de>>(d: D) -> Result<ReplyNamespace, D::Error> {
    ReplyNamespace::new(&String::deserialize(d)?).map_err(D::Error::custom)
}

pub(crate) fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        n => Ok(n),
    }
}

/// A count where 0 means 1.
pub(crate) fn count_at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    usize::deserialize(d).map(|n| n.max(1))
}

pub(crate) fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

/// Milliseconds where 0 means 1.
pub(crate) fn millis_at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(|ms| Duration::from_millis(ms.max(1)))
}

pub(crate) fn millis_nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    match u64::deserialize(d)? {
        0 => Err(D::Error::custom("must be at least 1")),
        ms => Ok(Duration::from_millis(ms)),
    }
}
