//! The dashboard's pool buttons, as the page sends them, on two nodes of a shard pool on a
//! private Redis: *Move* asked of the node that does not coordinate (it forwards) puts the
//! shard on the other node; *Drain* empties a node, *Undrain* lets it take shards again.

mod dashboard_run;
// This test uses a part of the migration tests' cluster.
#[allow(dead_code)]
mod migration;
mod pool_node;

use dashboard_run::{act, page_token};
use migration::{Cluster, SHARDS};
use pool_node::until;

const BOT: &str = "switchyard";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_moves_a_shard_and_drains_a_node() {
    let mut c = Cluster::new(false).await;
    c.two_nodes().await;
    let ids = [c.node_id(0).await, c.node_id(1).await];
    let coordinator = c.coordinator().await;
    let asked = c.nodes[1 - coordinator].admin.clone();
    let token = page_token(&asked).await;

    let shard = c.nodes[0]
        .ready_shards()
        .await
        .and_then(|s| s.first().copied())
        .expect("node a holds a shard");
    let body = format!(
        r#"{{"bot": "{BOT}", "shard": {shard}, "to": "{}"}}"#,
        ids[1]
    );
    let (status, answer) = act(&asked, &token, "/dashboard/move", &body).await;
    assert_eq!(status, 202, "{answer}");
    until("the shard running on node b", 60, &c.refs(), async || {
        let there = c.nodes[1].ready_shards().await;
        let here = c.nodes[0].ready_shards().await;
        there.is_some_and(|s| s.contains(&shard)) && here.is_some_and(|s| !s.contains(&shard))
    })
    .await;

    let drain = |on: bool| format!(r#"{{"bot": "{BOT}", "node": "{}", "drain": {on}}}"#, ids[1]);
    let (status, answer) = act(&asked, &token, "/dashboard/drain", &drain(true)).await;
    assert_eq!(status, 202, "{answer}");
    c.settled("node b drained", |n| n == [SHARDS as usize, 0])
        .await;
    let (status, answer) = act(&asked, &token, "/dashboard/drain", &drain(false)).await;
    assert_eq!(status, 202, "{answer}");
    c.settled("node b taking shards again", |n| n.iter().all(|x| *x > 0))
        .await;

    // A node that is not in the pool is named in the refusal.
    let ghost = format!(r#"{{"bot": "{BOT}", "shard": {shard}, "to": "node-ghost"}}"#);
    let (status, answer) = act(&asked, &token, "/dashboard/move", &ghost).await;
    assert_eq!(status, 404, "{answer}");
    c.recorder.abort();
}
