//! Bot identities from tokens: a token of Discord's form carries the bot's user id (base64
//! before the first dot), which is then the bot's id everywhere and its application id;
//! other tokens get ids derived from the token.

mod common;

use common::{Client, Rest, fast_sim, first_text_channel};
use serde_json::{Value, json};
use switchyard_sim::SimHandle;

const GUILDS_AND_MESSAGES: u64 = 1 | (1 << 9);

/// Everywhere the fake shows the bot's id or its application id, for one token.
async fn ids_seen(sim: &SimHandle, token: &str) -> Vec<(&'static str, Value)> {
    let (mut c, ready) = Client::ready(sim, token, GUILDS_AND_MESSAGES, None).await;
    let mut rest = Rest::new(sim);
    rest.auth = format!("Bot {token}");
    let (_, _, me) = rest.call("GET", "/users/@me", None).await;
    let (_, _, oauth_app) = rest.call("GET", "/oauth2/applications/@me", None).await;
    let (_, _, app) = rest.call("GET", "/applications/@me", None).await;
    let ch = first_text_channel(sim, 0);
    let (_, _, msg) = rest
        .call(
            "POST",
            &format!("/channels/{ch}/messages"),
            Some(json!({"content": "hi"})),
        )
        .await;
    let created = c.dispatch("MESSAGE_CREATE").await;
    let app_id = ready["application"]["id"].as_str().unwrap_or("").to_owned();
    let (status, _, _) = rest
        .call(
            "PUT",
            &format!("/applications/{app_id}/commands"),
            Some(json!([])),
        )
        .await;
    let counters = sim.counters();
    let session = counters
        .session(ready["session_id"].as_str().unwrap_or(""))
        .expect("session");
    vec![
        ("READY user.id", ready["user"]["id"].clone()),
        ("READY application.id", ready["application"]["id"].clone()),
        ("GET /users/@me", me["id"].clone()),
        ("GET /oauth2/applications/@me", oauth_app["id"].clone()),
        (
            "GET /oauth2/applications/@me bot",
            oauth_app["bot"]["id"].clone(),
        ),
        ("GET /applications/@me", app["id"].clone()),
        ("message author", msg["author"]["id"].clone()),
        (
            "MESSAGE_CREATE author",
            created["d"]["author"]["id"].clone(),
        ),
        ("counters bot_id", json!(session.bot_id)),
        (
            "PUT /applications/{id}/commands accepted",
            if status == 200 {
                ready["application"]["id"].clone()
            } else {
                json!(format!("status {status}"))
            },
        ),
    ]
}

#[tokio::test]
async fn a_real_form_token_gives_the_bot_its_user_id_and_application_id() {
    let sim = fast_sim().await;
    for (token, id) in [
        // standard alphabet, no padding needed (18 digits)
        (
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.xxxxx",
            "123456789012345678",
        ),
        // 19 digits without the padding
        (
            "MTEwMDAwMDAwMDAwMDAwMDAwMQ.G1h2i3.yyyyyyyyyyyyyyyyyyyy",
            "1100000000000000001",
        ),
        // a 17-digit id, with its padding
        ("ODAzNTExMTAyMjQ2Nzg5MTM=.Gz.zzzz", "80351110224678913"),
    ] {
        for (place, seen) in ids_seen(&sim, token).await {
            assert_eq!(seen, id, "{place} for {token}");
        }
    }
}

#[tokio::test]
async fn other_tokens_keep_ids_derived_from_the_token() {
    let sim = fast_sim().await;
    let a = ids_seen(&sim, "plain-token-a").await;
    let b = ids_seen(&sim, "not.base64!.digits").await;
    for ids in [&a, &b] {
        let first = &ids[0].1;
        assert!(first.as_str().is_some_and(|id| id.len() >= 17), "{first}");
        for (place, seen) in ids {
            assert_eq!(seen, first, "{place}");
        }
    }
    assert_ne!(a[0].1, b[0].1, "each token is its own bot");
    // the same token is the same bot (once its identify window has passed)
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = ids_seen(&sim, "plain-token-a").await;
    assert_eq!(again[0].1, a[0].1);
}
