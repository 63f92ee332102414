//! Gateway rules found by an audit: an over-long member-request nonce is ignored, privileged
//! intents are approved per bot, and oversized frames are closed with 4002.

mod common;

use common::{Client, TOKEN, sim};
use serde_json::json;
use switchyard_sim::SimConfig;
use tokio_tungstenite::tungstenite::Message;

const GUILD_MEMBERS: u64 = 1 << 1;
const MESSAGE_CONTENT: u64 = 1 << 15;

#[tokio::test]
async fn a_member_request_nonce_over_32_bytes_is_ignored() {
    let sim = sim(SimConfig::fast()).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, 1 | GUILD_MEMBERS, None).await;
    let g = &sim.world().guilds[0];
    let prefix = &g.members[0].user.username[..2];
    let nonce = "n".repeat(33);
    c.send(json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": prefix, "limit": 5, "nonce": nonce}}))
        .await;
    // answered, without the nonce, and the connection stays open
    let chunk = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert!(chunk["d"].get("nonce").is_none(), "{}", chunk["d"]);
    assert!(
        chunk["d"]["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );
    c.send(json!({"op": 8, "d": {"guild_id": g.id.to_string(), "query": prefix, "limit": 5, "nonce": "n".repeat(32)}}))
        .await;
    assert_eq!(
        c.dispatch("GUILD_MEMBERS_CHUNK").await["d"]["nonce"],
        "n".repeat(32)
    );
}

#[tokio::test]
async fn privileged_intents_are_approved_per_bot() {
    let cfg = SimConfig::fast().with_approved_intents("Bot members-only", GUILD_MEMBERS);
    let sim = sim(cfg).await;
    // the default (every privileged intent) still holds for other bots
    let (_full, ready) = Client::ready(&sim, "everything", 1 | MESSAGE_CONTENT, None).await;
    assert!(ready["session_id"].is_string());
    let mut c = Client::gateway(&sim, "v=10").await;
    c.hello().await;
    c.identify("members-only", 1 | MESSAGE_CONTENT, None).await;
    assert_eq!(c.close_code().await, 4014);
    let (_ok, ready) = Client::ready(&sim, "members-only", 1 | GUILD_MEMBERS, None).await;
    assert!(ready["session_id"].is_string());
}

#[tokio::test]
async fn a_frame_of_2_mib_is_closed_with_4002() {
    let sim = sim(SimConfig::fast()).await;
    let mut c = Client::gateway(&sim, "v=10&encoding=json").await;
    c.hello().await;
    let big = format!(r#"{{"op":1,"d":null,"x":"{}"}}"#, "a".repeat(2 << 20));
    c.send_raw(Message::text(big)).await;
    assert_eq!(c.close_code().await, 4002);
}
