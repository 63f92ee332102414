//! The coordinator's bookkeeping, free of I/O: which nodes are alive (by their heartbeats),
//! which shard each one holds, which shards are moving, and who gets the shards nobody holds.
//!
//! Holdings reported in heartbeats are adopted, so a new coordinator moves nothing without
//! reason; it waits for one lease after taking the role (the *settle* time) before handing out
//! free shards or moving any, so that it has heard from every live node first.
//!
//! Every grant of a shard gets an *epoch* higher than all before it, across coordinators too:
//! the coordinator's term in the high bits, a counter in the low ones (see [`epoch`]).
//!
//! A *move* hands a healthy shard over in two steps: the shard leaves the old node's plan (the
//! node closes it resumably, saves its session and says SHARD_DEATH), and on that release it
//! goes to the target with a new epoch. Never two owners: the target gets nothing before the
//! release. Only a shard its owner has said it runs moves (one still starting would never be
//! released). Moves come from an operator ([`Coordinator::move_shard`],
//! [`Coordinator::drain`]) and from balancing: in waves, each a lease after the pool last
//! changed, the coordinator moves shards from the heaviest node to the lightest while that
//! makes them markedly more even, weighing each shard by its guilds, at most [`MAX_MOVES`]
//! at a time. Balancing leaves alone the shards an operator placed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use switchyard_core::control::ShardConnect;

/// At most this many moves of balancing or draining run at once.
pub(crate) const MAX_MOVES: usize = 4;

/// How many leases a move may wait for its release before it is called off (the shard then
/// stays where it is).
const MOVE_LEASES: u32 = 3;

/// The epoch of the `n`th grant in coordinator term `term`: the term in the high 40 bits.
pub(crate) fn epoch(term: u64, n: u64) -> u64 {
    (term << 24) | (n & 0xff_ffff)
}

/// One node as the coordinator knows it.
#[derive(Debug, Clone)]
struct Node {
    last_seen: Instant,
    /// The number of its last beat heard.
    beat: u64,
}

/// A shard on its way from one node to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Move {
    pub(crate) from: String,
    pub(crate) to: String,
    since: Instant,
}

/// Why a move or a drain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveRefusal {
    /// The shard id is not below the total.
    #[error("shard {shard} does not exist: the bot runs {total} shards")]
    NoSuchShard {
        /// The shard asked for.
        shard: u32,
        /// The shard total.
        total: u32,
    },
    /// The node is not a live node of the pool.
    #[error("node {0:?} is not a live node of the pool")]
    UnknownNode(String),
    /// The target is drained.
    #[error("node {0:?} is drained; undrain it first")]
    Draining(String),
    /// The shard is already moving.
    #[error("shard {shard} is already moving from {from:?} to {to:?}")]
    AlreadyMoving {
        /// The shard asked for.
        shard: u32,
        /// Where it comes from.
        from: String,
        /// Where it goes.
        to: String,
    },
    /// The shard already runs on the target.
    #[error("shard {shard} already runs on {node:?}")]
    AlreadyThere {
        /// The shard asked for.
        shard: u32,
        /// The target.
        node: String,
    },
    /// The shard's owner has not said it runs it yet.
    #[error("shard {0} is still starting on its node; try again in a moment")]
    Starting(u32),
    /// The coordinator has not heard from every node yet.
    #[error("the coordinator took the role less than a lease ago; try again in a moment")]
    Settling,
    /// Draining would leave the shards nowhere to go.
    #[error("node {0:?} is the only node left that can run shards")]
    LastNode(String),
}

/// The coordinator's view of the pool.
#[derive(Debug)]
pub(crate) struct Coordinator {
    total: u32,
    lease: Duration,
    since: Instant,
    term: u64,
    grants: u64,
    nodes: BTreeMap<String, Node>,
    owner: BTreeMap<u32, String>,
    epochs: BTreeMap<u32, u64>,
    /// Guilds per shard, as their nodes last said.
    guilds: BTreeMap<u32, u32>,
    moves: BTreeMap<u32, Move>,
    /// The shards whose owner's beats say it runs them since their grant.
    confirmed: BTreeSet<u32>,
    /// When a shard last changed hands or a move ended: balancing waits a lease after.
    changed: Instant,
    /// Shards an operator placed: balancing leaves them where they were put (drains and
    /// deaths still move them, and unpin them).
    pinned: BTreeSet<u32>,
    /// The drained nodes: the operator's word, kept while a node is briefly taken for dead.
    /// Learnt from the nodes' beats only while settling (a new coordinator); after that a
    /// beat sent before the node heard of a drain or undrain would undo it.
    drained: BTreeSet<String>,
}

impl Coordinator {
    /// A coordinator in `term` for `total` shards whose nodes lapse after `lease` without a
    /// heartbeat.
    pub(crate) fn new(total: u32, lease: Duration, term: u64, now: Instant) -> Self {
        Coordinator {
            total,
            lease,
            since: now,
            term,
            grants: 0,
            nodes: BTreeMap::new(),
            owner: BTreeMap::new(),
            epochs: BTreeMap::new(),
            guilds: BTreeMap::new(),
            moves: BTreeMap::new(),
            confirmed: BTreeSet::new(),
            changed: now,
            pinned: BTreeSet::new(),
            drained: BTreeSet::new(),
        }
    }

    fn grant(&mut self, shard: u32, node: &str) {
        self.grants += 1;
        self.confirmed.remove(&shard);
        self.owner.insert(shard, node.to_owned());
        self.epochs.insert(shard, epoch(self.term, self.grants));
    }

    fn settled(&self, now: Instant) -> bool {
        now.duration_since(self.since) >= self.lease
    }

    /// A heartbeat (SHARD_CONNECT).
    pub(crate) fn heard(&mut self, hello: &ShardConnect, now: Instant) {
        let node = hello.node.as_str();
        self.nodes.insert(
            node.to_owned(),
            Node {
                last_seen: now,
                beat: hello.beat,
            },
        );
        if hello.draining && !self.settled(now) {
            self.drained.insert(node.to_owned());
        }
        let total = self.total;
        for &shard in hello.shards.iter().filter(|s| **s < total) {
            // The first claim wins; a second holder is told to drop it by its next accept.
            if !self.owner.contains_key(&shard) && !self.moves.contains_key(&shard) {
                self.grant(shard, node);
            }
            if self.owner.get(&shard).is_some_and(|o| o == node) {
                self.confirmed.insert(shard);
                if let Some(&n) = hello.guilds.get(&shard) {
                    self.guilds.insert(shard, n);
                }
            }
        }
    }

    /// SHARD_DEATH: `node` gave `shards` back, and left the pool if `leaving`. Returns the
    /// nodes that were granted a moving shard by it.
    pub(crate) fn released(
        &mut self,
        node: &str,
        shards: &[u32],
        leaving: bool,
        now: Instant,
    ) -> Vec<String> {
        let mut targets = Vec::new();
        self.changed = now;
        for shard in shards {
            if self.owner.get(shard).is_none_or(|o| o != node) {
                continue;
            }
            self.owner.remove(shard);
            if let Some(m) = self.moves.remove(shard)
                && self.nodes.contains_key(&m.to)
            {
                self.grant(*shard, &m.to);
                targets.push(m.to);
            }
        }
        if leaving {
            self.nodes.remove(node);
        }
        targets
    }

    /// Moves `shard` to the live node `to`.
    pub(crate) fn move_shard(
        &mut self,
        shard: u32,
        to: &str,
        now: Instant,
    ) -> Result<(), MoveRefusal> {
        if shard >= self.total {
            return Err(MoveRefusal::NoSuchShard {
                shard,
                total: self.total,
            });
        }
        match self.nodes.get(to) {
            None => return Err(MoveRefusal::UnknownNode(to.to_owned())),
            Some(_) if self.draining(to) => return Err(MoveRefusal::Draining(to.to_owned())),
            Some(_) => {}
        }
        if let Some(m) = self.moves.get(&shard) {
            if m.to == to {
                // on its way there already
                self.pinned.insert(shard);
                return Ok(());
            }
            return Err(MoveRefusal::AlreadyMoving {
                shard,
                from: m.from.clone(),
                to: m.to.clone(),
            });
        }
        if !self.settled(now) {
            return Err(MoveRefusal::Settling);
        }
        match self.owner.get(&shard).cloned() {
            Some(from) if from == to => Err(MoveRefusal::AlreadyThere { shard, node: from }),
            Some(_) if !self.confirmed.contains(&shard) => Err(MoveRefusal::Starting(shard)),
            Some(from) => {
                self.start_move(shard, from, to.to_owned(), now);
                self.pinned.insert(shard);
                Ok(())
            }
            None => {
                self.grant(shard, to);
                self.pinned.insert(shard);
                Ok(())
            }
        }
    }

    fn start_move(&mut self, shard: u32, from: String, to: String, now: Instant) {
        tracing::info!(shard, %from, %to, "moving a shard");
        metrics::counter!("switchyard_gateway_pool_moves_total").increment(1);
        self.moves.insert(
            shard,
            Move {
                from,
                to,
                since: now,
            },
        );
    }

    /// Drains `node` (its shards move to the others, a few at a time, and it gets none until
    /// undrained), or undrains it.
    pub(crate) fn drain(&mut self, node: &str, drain: bool) -> Result<(), MoveRefusal> {
        if drain && !self.nodes.keys().any(|id| id != node && !self.draining(id)) {
            return Err(MoveRefusal::LastNode(node.to_owned()));
        }
        if !self.nodes.contains_key(node) && (drain || !self.drained.contains(node)) {
            return Err(MoveRefusal::UnknownNode(node.to_owned()));
        }
        if drain {
            self.drained.insert(node.to_owned());
        } else {
            self.drained.remove(node);
        }
        Ok(())
    }

    /// The number of the last beat heard from `node`.
    pub(crate) fn last_beat(&self, node: &str) -> Option<u64> {
        self.nodes.get(node).map(|n| n.beat).filter(|b| *b > 0)
    }

    /// Whether `node` is drained.
    pub(crate) fn draining(&self, node: &str) -> bool {
        self.drained.contains(node)
    }

    /// The shard's current epoch.
    pub(crate) fn epochs_of(&self, shards: &[u32]) -> BTreeMap<u32, u64> {
        shards
            .iter()
            .filter_map(|s| Some((*s, *self.epochs.get(s)?)))
            .collect()
    }

    /// The moves in flight.
    pub(crate) fn moves(&self) -> &BTreeMap<u32, Move> {
        &self.moves
    }

    /// Forgets the nodes silent for a lease (their shards become free) and the moves that
    /// waited too long or lost an end.
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
        let owner = &self.owner;
        let before = self.moves.len();
        self.moves.retain(|shard, m| {
            let keep = nodes.contains_key(&m.to)
                && owner.get(shard).is_some_and(|o| *o == m.from)
                && now.duration_since(m.since) < lease * MOVE_LEASES;
            if !keep {
                tracing::warn!(shard, from = %m.from, to = %m.to, "a move was called off (an end is gone, or the release never came)");
                metrics::counter!("switchyard_gateway_pool_moves_called_off_total").increment(1);
            }
            keep
        });
        if self.moves.len() != before || !dead.is_empty() {
            self.changed = now;
        }
        dead
    }

    /// The weight of a shard: its guilds, at least one.
    fn weight(&self, shard: u32) -> u64 {
        u64::from(self.guilds.get(&shard).copied().unwrap_or(1).max(1))
    }

    /// Each node's load, counting moving shards at their target.
    fn loads(&self, include_draining: bool) -> BTreeMap<&str, u64> {
        let mut loads: BTreeMap<&str, u64> = self
            .nodes
            .iter()
            .filter(|(id, _)| include_draining || !self.draining(id))
            .map(|(id, _)| (id.as_str(), 0))
            .collect();
        for (shard, node) in &self.owner {
            let at = self
                .moves
                .get(shard)
                .map_or(node.as_str(), |m| m.to.as_str());
            if let Some(load) = loads.get_mut(at) {
                *load += self.weight(*shard);
            }
        }
        loads
    }

    /// The lightest node that takes shards.
    fn lightest(&self) -> Option<String> {
        let loads = self.loads(false);
        loads
            .iter()
            .min_by_key(|(id, load)| (**load, **id))
            .map(|(id, _)| (*id).to_owned())
    }

    /// Whether `shard` may move now: its owner runs it and it is not moving.
    fn movable(&self, shard: u32) -> bool {
        self.confirmed.contains(&shard) && !self.moves.contains_key(&shard)
    }

    /// Starts moves off drained nodes, then (a lease after the pool last changed, with no
    /// move in flight) a wave of moves that even the load out, at most [`MAX_MOVES`] in
    /// flight.
    fn rebalance(&mut self, now: Instant) {
        let drained: Vec<(u32, String)> = self
            .owner
            .iter()
            .filter(|(s, o)| self.draining(o) && self.movable(**s))
            .map(|(s, o)| (*s, o.clone()))
            .collect();
        for (shard, from) in drained {
            if self.moves.len() >= MAX_MOVES {
                return;
            }
            let Some(to) = self.lightest() else { return };
            self.pinned.remove(&shard);
            self.start_move(shard, from, to, now);
        }
        if !self.moves.is_empty() || now.duration_since(self.changed) < self.lease {
            return;
        }
        // Nodes that receive a shard in this wave give none.
        let mut receiving = BTreeSet::new();
        while self.moves.len() < MAX_MOVES {
            let loads = self.loads(false);
            let total: u64 = loads.values().sum();
            let (Some((heavy, high)), Some((light, low))) = (
                loads
                    .iter()
                    .max_by_key(|(id, l)| (**l, std::cmp::Reverse(**id))),
                loads.iter().min_by_key(|(id, l)| (**l, **id)),
            ) else {
                return;
            };
            if receiving.contains(*heavy) {
                return;
            }
            let gap = high - low;
            // Worth a move only if the spread shrinks by a tenth of a node's mean load.
            let worth = (total / (10 * loads.len() as u64)).max(1);
            // The shard that narrows the gap most: the spread strictly shrinks each time,
            // so balancing ends.
            let candidate = self
                .owner
                .iter()
                .filter(|(s, o)| {
                    o.as_str() == *heavy && self.movable(**s) && !self.pinned.contains(s)
                })
                .map(|(s, _)| (self.weight(*s), *s))
                .filter(|(w, _)| *w < gap)
                .map(|(w, s)| (gap - gap.abs_diff(2 * w), s))
                .filter(|(shrink, _)| *shrink >= worth)
                .max();
            let Some((_, shard)) = candidate else { return };
            let (from, to) = ((*heavy).to_owned(), (*light).to_owned());
            receiving.insert(to.clone());
            self.start_move(shard, from, to, now);
        }
    }

    /// Hands the free shards out and starts moves, once settled; returns what each live node
    /// should run now (a moving shard is in nobody's plan until it is released).
    pub(crate) fn assign(&mut self, now: Instant) -> BTreeMap<String, Vec<u32>> {
        for dead in self.expire(now) {
            tracing::warn!(node = %dead, "a gateway node stopped beating; its shards go back to the pool");
        }
        if self.settled(now) && !self.nodes.is_empty() {
            for shard in 0..self.total {
                if self.owner.contains_key(&shard) {
                    continue;
                }
                if let Some(id) = self.lightest() {
                    self.grant(shard, &id);
                    self.pinned.remove(&shard);
                    self.changed = now;
                }
            }
            self.rebalance(now);
        }
        let mut plan: BTreeMap<String, Vec<u32>> = self
            .nodes
            .keys()
            .map(|id| (id.clone(), Vec::new()))
            .collect();
        for (shard, node) in &self.owner {
            if self.moves.contains_key(shard) {
                continue;
            }
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

    /// Which node owns each shard now.
    pub(crate) fn owners(&self) -> &BTreeMap<u32, String> {
        &self.owner
    }
}

#[cfg(test)]
mod tests;
