//! Several processes of one bot (here two gateways in one test, each with half the shards,
//! on one broker) send each outbound message once, and a channel's messages in order.

mod common;

use std::time::Duration;

use common::env;
use switchyard_broker::Broker;
use switchyard_core::Topic;
use switchyard_gateway::ShardRange;
use switchyard_sim::SimConfig;

#[tokio::test]
async fn each_outbound_message_is_sent_once_by_one_process() {
    let env = env(SimConfig {
        shards: 2,
        ..SimConfig::fast()
    })
    .await;
    let mut gateways = Vec::new();
    for shard in 0..2 {
        let mut config = env.config();
        config.shards = Some(2);
        config.shard_range = Some(ShardRange {
            first: shard,
            last: shard,
        });
        gateways.push(env.start(config).await);
    }
    let channels: Vec<u64> = (0..4).map(|g| env.channel(g)).collect();
    for i in 0..5 {
        for (g, ch) in channels.iter().enumerate() {
            let topic = Topic::new(&format!("outbound.discord.{g}.{ch}.1")).expect("topic");
            env.broker
                .publish(&topic, format!("\"message {i}\"").into())
                .await
                .expect("publish");
        }
    }
    for &ch in &channels {
        env.wait_posted(ch, 5).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    for &ch in &channels {
        let texts: Vec<String> = env
            .posted(ch)
            .iter()
            .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = (0..5).map(|i| format!("message {i}")).collect();
        assert_eq!(texts, expected, "channel {ch}: each message once, in order");
    }
    for gw in gateways {
        gw.shutdown().await;
    }
}
