//! [`ShardLocator`]: which node of the pool runs each shard and where its admin listener
//! answers, as every node hears the others' SHARD_CONNECT beats. The cache API forwards a
//! query for a shard this node does not run to the node that does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What one node said in its last beat.
#[derive(Debug, Clone)]
struct Beat {
    admin: Option<String>,
    shards: Vec<u32>,
    at: Instant,
}

/// The nodes of one bot's pool as this node hears them, and where this node's own admin
/// listener answers. Cheap to clone: clones share the same directory.
#[derive(Debug, Clone)]
pub struct ShardLocator {
    inner: Arc<Mutex<Directory>>,
}

#[derive(Debug)]
struct Directory {
    node: String,
    /// This node's admin listener, once it is bound.
    admin: Option<String>,
    nodes: BTreeMap<String, Beat>,
    /// A node silent this long is taken for gone.
    lease: Duration,
}

impl ShardLocator {
    pub(crate) fn new(node: String, lease: Duration) -> Self {
        ShardLocator {
            inner: Arc::new(Mutex::new(Directory {
                node,
                admin: None,
                nodes: BTreeMap::new(),
                lease,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Directory> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets where this node's admin listener answers (`http://host:port`), which its beats
    /// then advertise.
    pub fn advertise(&self, admin: String) {
        self.lock().admin = Some(admin);
    }

    /// Where this node's admin listener answers, once advertised.
    pub(crate) fn own_admin(&self) -> Option<String> {
        self.lock().admin.clone()
    }

    /// Notes a node's beat.
    pub(crate) fn heard(&self, node: &str, admin: Option<String>, shards: Vec<u32>) {
        let beat = Beat {
            admin,
            shards,
            at: Instant::now(),
        };
        self.lock().nodes.insert(node.to_owned(), beat);
    }

    /// Notes that a node left the pool.
    pub(crate) fn left(&self, node: &str) {
        self.lock().nodes.remove(node);
    }

    /// The admin listeners of the other nodes heard within a lease.
    pub fn others(&self) -> Vec<String> {
        let dir = self.lock();
        dir.nodes
            .iter()
            .filter(|(node, beat)| **node != dir.node && beat.at.elapsed() < dir.lease)
            .filter_map(|(_, beat)| beat.admin.clone())
            .collect()
    }

    /// The admin listener of the other node `node`, as its latest beat within a lease says.
    pub fn admin_of_node(&self, node: &str) -> Option<String> {
        let dir = self.lock();
        dir.nodes
            .get(node)
            .filter(|beat| node != dir.node && beat.at.elapsed() < dir.lease)
            .and_then(|beat| beat.admin.clone())
    }

    /// The admin listener of the other node that runs `shard`, as its latest beat within a
    /// lease says.
    pub fn admin_of(&self, shard: u32) -> Option<String> {
        let dir = self.lock();
        dir.nodes
            .iter()
            .filter(|(node, beat)| **node != dir.node && beat.at.elapsed() < dir.lease)
            .filter(|(_, beat)| beat.shards.contains(&shard))
            .max_by_key(|(_, beat)| beat.at)
            .and_then(|(_, beat)| beat.admin.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_is_found_at_the_node_that_last_said_it_runs_it() {
        let l = ShardLocator::new("me".into(), Duration::from_secs(60));
        l.heard("me", Some("http://me".into()), vec![0]);
        l.heard("a", Some("http://a".into()), vec![1, 2]);
        assert_eq!(l.admin_of(1).as_deref(), Some("http://a"));
        assert_eq!(l.admin_of(0), None, "not forwarded to ourselves");
        l.heard("b", Some("http://b".into()), vec![2]);
        assert_eq!(
            l.admin_of(2).as_deref(),
            Some("http://b"),
            "the latest beat"
        );
        l.left("a");
        assert_eq!(l.admin_of(1), None);
    }

    #[test]
    fn a_silent_node_is_not_asked() {
        let l = ShardLocator::new("me".into(), Duration::ZERO);
        l.heard("a", Some("http://a".into()), vec![1]);
        assert_eq!(l.admin_of(1), None);
    }
}
