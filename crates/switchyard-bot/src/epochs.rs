//! [`Epochs`]: the highest pool epoch seen for each source (`{platform}/{bot}/{shard}` of
//! the envelope), so that an event published by a gateway node that had lost its shard
//! (a lower epoch than one already seen for it) is dropped rather than handled twice.
//! Envelopes without an epoch (outside a shard pool) are never dropped.

use std::collections::HashMap;
use std::sync::Mutex;

/// The highest epoch seen per source.
#[derive(Debug, Default)]
pub(crate) struct Epochs {
    highest: Mutex<HashMap<String, u64>>,
}

impl Epochs {
    /// Notes `epoch` for `source`; false when a higher one was seen before (stale).
    pub(crate) fn fresh(&self, source: &str, epoch: u64) -> bool {
        let mut highest = self
            .highest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match highest.get_mut(source) {
            Some(seen) if *seen > epoch => false,
            Some(seen) => {
                *seen = epoch;
                true
            }
            None => {
                highest.insert(source.to_owned(), epoch);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lower_epoch_than_seen_is_stale_per_source() {
        let e = Epochs::default();
        assert!(e.fresh("discord/bot/0", 5));
        assert!(e.fresh("discord/bot/0", 5), "the same grant goes on");
        assert!(e.fresh("discord/bot/0", 9));
        assert!(!e.fresh("discord/bot/0", 5), "a node that lost the shard");
        assert!(e.fresh("discord/bot/1", 1), "another shard has its own");
    }
}
