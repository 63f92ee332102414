//! The coordinator's bookkeeping, free of I/O: which nodes are alive (by their heartbeats),
//! which shard each one holds, and who gets the shards nobody holds.
//!
//! Holdings reported in heartbeats are adopted, so a new coordinator never moves a healthy
//! shard; it waits for one lease after taking the role (the *settle* time) before handing out
//! free shards, so that it has heard from every live node first. Free shards go to the node
//! holding the fewest. Moving healthy shards (rebalancing, live migration) is left to a later
//! step: [`Coordinator::assign`] is the seam.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One node as the coordinator knows it.
#[derive(Debug, Clone)]
struct Node {
    last_seen: Instant,
}

/// The coordinator's view of the pool.
#[derive(Debug)]
pub(crate) struct Coordinator {
    total: u32,
    lease: Duration,
    since: Instant,
    nodes: BTreeMap<String, Node>,
    owner: BTreeMap<u32, String>,
}

impl Coordinator {
    /// A coordinator for `total` shards whose nodes lapse after `lease` without a heartbeat.
    pub(crate) fn new(total: u32, lease: Duration, now: Instant) -> Self {
        Coordinator {
            total,
            lease,
            since: now,
            nodes: BTreeMap::new(),
            owner: BTreeMap::new(),
        }
    }

    /// A heartbeat (SHARD_CONNECT) from `node`, holding `held`.
    pub(crate) fn heard(&mut self, node: &str, held: &[u32], now: Instant) {
        self.nodes.insert(node.to_owned(), Node { last_seen: now });
        for &shard in held.iter().filter(|s| **s < self.total) {
            // The first claim wins; a second holder is told to drop it by its next accept.
            self.owner.entry(shard).or_insert_with(|| node.to_owned());
        }
    }

    /// SHARD_DEATH: `node` gave `shards` back; a node giving everything back has left.
    pub(crate) fn released(&mut self, node: &str, shards: &[u32]) {
        for shard in shards {
            if self.owner.get(shard).is_some_and(|o| o == node) {
                self.owner.remove(shard);
            }
        }
        if !self.owner.values().any(|o| o == node) {
            self.nodes.remove(node);
        }
    }

    /// Forgets the nodes silent for a lease; their shards become free.
    fn expire(&mut self, now: Instant) -> Vec<String> {
        let lease = self.lease;
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.duration_since(n.last_seen) > lease)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &dead {
            self.nodes.remove(id);
        }
        let nodes = &self.nodes;
        self.owner.retain(|_, o| nodes.contains_key(o));
        dead
    }

    /// Hands the free shards out, once settled; returns what each live node should run.
    pub(crate) fn assign(&mut self, now: Instant) -> BTreeMap<String, Vec<u32>> {
        for dead in self.expire(now) {
            tracing::warn!(node = %dead, "a gateway node stopped beating; its shards go back to the pool");
        }
        if now.duration_since(self.since) >= self.lease && !self.nodes.is_empty() {
            for shard in 0..self.total {
                if self.owner.contains_key(&shard) {
                    continue;
                }
                let least = self
                    .nodes
                    .keys()
                    .min_by_key(|id| self.owner.values().filter(|o| o == id).count());
                if let Some(id) = least.cloned() {
                    self.owner.insert(shard, id);
                }
            }
        }
        let mut plan: BTreeMap<String, Vec<u32>> = self
            .nodes
            .keys()
            .map(|id| (id.clone(), Vec::new()))
            .collect();
        for (shard, node) in &self.owner {
            if let Some(list) = plan.get_mut(node) {
                list.push(*shard);
            }
        }
        plan
    }

    /// The live nodes.
    pub(crate) fn nodes(&self) -> BTreeSet<String> {
        self.nodes.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: Duration = Duration::from_secs(1);

    #[test]
    fn waits_to_settle_then_splits_free_shards_evenly() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(5, LEASE, t0);
        c.heard("a", &[], t0);
        c.heard("b", &[], t0);
        let plan = c.assign(t0 + Duration::from_millis(10));
        assert!(
            plan.values().all(Vec::is_empty),
            "nothing before settling: {plan:?}"
        );
        let plan = c.assign(t0 + LEASE);
        assert_eq!(plan["a"].len() + plan["b"].len(), 5);
        assert!(plan["a"].len().abs_diff(plan["b"].len()) <= 1, "{plan:?}");
        let a: BTreeSet<u32> = plan["a"].iter().copied().collect();
        assert!(plan["b"].iter().all(|s| !a.contains(s)), "disjoint");
    }

    #[test]
    fn adopts_what_nodes_hold_and_refuses_double_claims() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(4, LEASE, t0);
        c.heard("a", &[0, 1, 2], t0);
        c.heard("b", &[2, 3], t0);
        let plan = c.assign(t0);
        assert_eq!(plan["a"], [0, 1, 2]);
        assert_eq!(plan["b"], [3], "b is told to drop shard 2");
    }

    #[test]
    fn a_silent_node_s_shards_go_to_the_others() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(4, LEASE, t0);
        c.heard("a", &[0, 1], t0);
        c.heard("b", &[2, 3], t0);
        let later = t0 + LEASE + Duration::from_millis(500);
        c.heard("b", &[2, 3], later);
        let plan = c.assign(later);
        assert_eq!(plan.keys().collect::<Vec<_>>(), ["b"]);
        assert_eq!(plan["b"], [0, 1, 2, 3]);
    }

    #[test]
    fn a_node_that_gives_everything_back_has_left() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(2, LEASE, t0);
        c.heard("a", &[0], t0);
        c.heard("b", &[1], t0);
        c.released("a", &[0]);
        assert_eq!(c.nodes().len(), 1);
        let plan = c.assign(t0 + LEASE);
        assert_eq!(plan["b"], [0, 1]);
    }
}
