//! REQUEST_GUILD_MEMBERS (op 8) as Discord documents it: required fields, intents, chunks of
//! at most 1000, `not_found`, `presences`, and RATE_LIMITED for a repeated full-list request.

mod common;

use common::{Client, TOKEN, sim};
use serde_json::{Value, json};
use switchyard_sim::{SimConfig, SimHandle};

const GUILDS: u64 = 1;
const GUILD_MEMBERS: u64 = 1 << 1;
const GUILD_PRESENCES: u64 = 1 << 8;

/// A sim whose full-list window (30 s in Discord) outlasts any test.
async fn slow_window_sim(members: usize) -> SimHandle {
    let mut c = SimConfig::fast();
    c.timings.member_request_window_ms = 600_000;
    c.world.members_per_guild = members;
    sim(c).await
}

fn request(guild: u64, extra: Value) -> Value {
    let mut d = json!({"guild_id": guild.to_string()});
    if let (Some(d), Some(extra)) = (d.as_object_mut(), extra.as_object()) {
        d.extend(extra.clone());
    }
    json!({"op": 8, "d": d})
}

/// The chunks answering the request with this nonce, in order (other dispatches skipped).
async fn chunks(c: &mut Client, nonce: &str) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let p = c.dispatch("GUILD_MEMBERS_CHUNK").await;
        if p["d"]["nonce"] != nonce {
            continue;
        }
        let count = p["d"]["chunk_count"].as_u64().expect("chunk_count");
        got.push(p["d"].clone());
        if got.len() as u64 == count {
            return got;
        }
    }
}

fn member_count(chunks: &[Value]) -> usize {
    chunks
        .iter()
        .map(|c| c["members"].as_array().map_or(0, Vec::len))
        .sum()
}

#[tokio::test]
async fn the_full_list_comes_in_chunks_of_at_most_1000() {
    let sim = slow_window_sim(2_500).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS | GUILD_MEMBERS, None).await;
    let g = sim.world().guilds[0].id;
    c.send(request(g, json!({"query": "", "limit": 0, "nonce": "all"})))
        .await;
    let got = chunks(&mut c, "all").await;
    let sizes: Vec<usize> = got
        .iter()
        .map(|c| c["members"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 501], "2500 members and the bot");
    for (i, chunk) in got.iter().enumerate() {
        assert_eq!(chunk["chunk_index"], i);
        assert_eq!(chunk["guild_id"], g.to_string());
        assert!(chunk.get("presences").is_none(), "not asked for");
    }
}

#[tokio::test]
async fn a_second_full_list_request_within_the_window_is_rate_limited_per_guild_per_bot() {
    let sim = slow_window_sim(25).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS | GUILD_MEMBERS, None).await;
    let (g1, g2) = (sim.world().guilds[0].id, sim.world().guilds[1].id);
    let full = |g, nonce: &str| request(g, json!({"query": "", "limit": 0, "nonce": nonce}));
    c.send(full(g1, "first")).await;
    assert_eq!(member_count(&chunks(&mut c, "first").await), 26);
    c.send(full(g1, "again")).await;
    let rl = c.dispatch("RATE_LIMITED").await;
    assert_eq!(rl["d"]["opcode"], 8);
    assert_eq!(rl["d"]["meta"]["guild_id"], g1.to_string());
    assert_eq!(rl["d"]["meta"]["nonce"], "again");
    let retry = rl["d"]["retry_after"].as_f64().expect("retry_after");
    assert!(retry > 0.0 && retry <= 600.0, "{retry}");
    // another guild, and another bot in the same guild, are not limited
    c.send(full(g2, "other-guild")).await;
    assert_eq!(member_count(&chunks(&mut c, "other-guild").await), 26);
    let (mut other, _) = Client::ready(&sim, "other-bot", GUILDS | GUILD_MEMBERS, None).await;
    other.send(full(g1, "other-bot")).await;
    assert_eq!(member_count(&chunks(&mut other, "other-bot").await), 26);
    // prefix queries are not limited
    let prefix = &sim.world().guilds[0].members[0].user.username[..1];
    c.send(request(
        g1,
        json!({"query": prefix, "limit": 1, "nonce": "prefix"}),
    ))
    .await;
    assert_eq!(member_count(&chunks(&mut c, "prefix").await), 1);
}

#[tokio::test]
async fn the_full_list_without_guild_members_gets_no_answer_but_a_prefix_query_does() {
    let sim = slow_window_sim(25).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS, None).await;
    let g = &sim.world().guilds[0];
    c.send(request(
        g.id,
        json!({"query": "", "limit": 0, "nonce": "all"}),
    ))
    .await;
    let prefix = &g.members[0].user.username[..2];
    c.send(request(
        g.id,
        json!({"query": prefix, "limit": 100, "nonce": "prefix"}),
    ))
    .await;
    // answers come in order: the first chunk to arrive is the prefix query's
    let first = c.dispatch("GUILD_MEMBERS_CHUNK").await;
    assert_eq!(first["d"]["nonce"], "prefix");
    let members = first["d"]["members"].as_array().expect("members");
    assert!(!members.is_empty());
    assert!(members.iter().all(|m| {
        m["user"]["username"]
            .as_str()
            .is_some_and(|u| u.to_lowercase().starts_with(&prefix.to_lowercase()))
    }));
}

#[tokio::test]
async fn presences_need_guild_presences_otherwise_they_count_as_false() {
    let sim = slow_window_sim(25).await;
    let g = &sim.world().guilds[0];
    let ids: Vec<String> = g.members[..3]
        .iter()
        .map(|m| m.user.id.to_string())
        .collect();
    let ask = request(
        g.id,
        json!({"user_ids": ids, "presences": true, "nonce": "p"}),
    );
    let (mut without, _) = Client::ready(&sim, TOKEN, GUILDS, None).await;
    without.send(ask.clone()).await;
    let got = chunks(&mut without, "p").await;
    assert_eq!(member_count(&got), 3);
    assert!(got[0].get("presences").is_none(), "{}", got[0]);
    let (mut with, _) = Client::ready(&sim, "presences-bot", GUILDS | GUILD_PRESENCES, None).await;
    with.send(ask).await;
    let got = chunks(&mut with, "p").await;
    let presences = got[0]["presences"].as_array().expect("presences");
    assert_eq!(presences.len(), 3);
    let mut seen: Vec<String> = presences
        .iter()
        .map(|p| p["user"]["id"].as_str().unwrap_or("").to_owned())
        .collect();
    seen.sort();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn user_ids_return_at_most_100_and_name_the_unknown_ones() {
    let sim = slow_window_sim(150).await;
    let (mut c, _) = Client::ready(&sim, TOKEN, GUILDS, None).await;
    let g = &sim.world().guilds[0];
    let mut ids: Vec<String> = g.members[..2]
        .iter()
        .map(|m| m.user.id.to_string())
        .collect();
    ids.push("1".into());
    c.send(request(g.id, json!({"user_ids": ids, "nonce": "few"})))
        .await;
    let got = chunks(&mut c, "few").await;
    assert_eq!(member_count(&got), 2);
    assert_eq!(got[0]["not_found"], json!(["1"]));
    // one id alone (not in a list) is accepted too
    c.send(request(g.id, json!({"user_ids": ids[0], "nonce": "one"})))
        .await;
    assert_eq!(member_count(&chunks(&mut c, "one").await), 1);
    let many: Vec<String> = g.members[..150]
        .iter()
        .map(|m| m.user.id.to_string())
        .collect();
    c.send(request(g.id, json!({"user_ids": many, "nonce": "many"})))
        .await;
    assert_eq!(member_count(&chunks(&mut c, "many").await), 100);
}

#[tokio::test]
async fn payloads_against_the_documented_structure_close_with_4001() {
    let sim = slow_window_sim(25).await;
    let g = sim.world().guilds[0].id;
    let cases = [
        ("no-guild", json!({"op": 8, "d": {"query": "", "limit": 0}})),
        ("neither", request(g, json!({"limit": 0}))),
        (
            "both",
            request(g, json!({"query": "", "limit": 0, "user_ids": ["1"]})),
        ),
        ("query-without-limit", request(g, json!({"query": "a"}))),
    ];
    for (token, frame) in cases {
        let (mut c, _) = Client::ready(&sim, token, GUILDS | GUILD_MEMBERS, None).await;
        c.send(frame).await;
        assert_eq!(c.close_code().await, 4001, "{token}");
    }
}
