//! REST as a bot sees it: shapes, errors, side effects on the gateway, rate limits, and the
//! control API over HTTP.

mod common;

use common::{Client, Rest, TOKEN, fast_sim, first_text_channel};
use reqwest::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn gateway_info_identity_and_errors() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let res = reqwest::get(format!("{}/gateway", sim.api_url()))
        .await
        .expect("gateway");
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["url"], sim.gateway_url());
    assert!(
        v["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("ws://") && !u.ends_with('/'))
    );

    let (s, _, v) = rest.call("GET", "/gateway/bot", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["shards"], 1);
    assert_eq!(v["session_start_limit"]["total"], 1000);

    let (s, _, me) = rest.call("GET", "/users/@me", None).await;
    assert_eq!((s, me["bot"].as_bool()), (StatusCode::OK, Some(true)));
    let (_, _, app) = rest.call("GET", "/oauth2/applications/@me", None).await;
    assert_eq!(app["id"], me["id"]);
    assert!(app["approximate_user_install_count"].is_u64(), "{app}");
    let (_, _, app2) = rest.call("GET", "/applications/@me", None).await;
    assert_eq!(app2["id"], me["id"]);

    let anon = reqwest::get(format!("{}/users/@me", sim.api_url()))
        .await
        .expect("anon");
    assert_eq!(anon.status(), 401);
    assert_eq!(
        anon.json::<Value>().await.expect("json"),
        json!({"message": "401: Unauthorized", "code": 0})
    );
    let (s, _, v) = rest.call("GET", "/no/such/route", None).await;
    assert_eq!((s, v["code"].as_u64()), (StatusCode::NOT_FOUND, Some(0)));
    let (s, _, v) = rest.call("GET", "/channels/1/messages/2", None).await;
    assert_eq!(
        (s, v["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(10003))
    );
    let ch = first_text_channel(&sim, 0);
    let (s, _, v) = rest
        .call("GET", &format!("/channels/{ch}/messages/2"), None)
        .await;
    assert_eq!(
        (s, v["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(10008))
    );
    let long = "x".repeat(2001);
    let (s, _, v) = rest
        .call(
            "POST",
            &format!("/channels/{ch}/messages"),
            Some(json!({"content": long})),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["code"], 50035);
    assert_eq!(
        v["errors"]["content"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    let (s, _, v) = rest
        .call("POST", &format!("/channels/{ch}/messages"), Some(json!({})))
        .await;
    assert_eq!(
        (s, v["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(50006))
    );
}

#[tokio::test]
async fn messages_crud_with_gateway_side_effects() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let (mut gw, ready) = Client::ready(
        &sim,
        TOKEN,
        1 | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 15),
        None,
    )
    .await;
    let me = ready["user"]["id"].clone();
    let g = &sim.world().guilds[0];
    let ch = first_text_channel(&sim, 0);
    let (s, h, m) = rest
        .call(
            "POST",
            &format!("/channels/{ch}/messages"),
            Some(json!({"content": "hello", "nonce": "abc"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["content-type"], "application/json");
    assert!(h.contains_key("x-ratelimit-bucket") && h.contains_key("x-ratelimit-reset-after"));
    assert_eq!(h["x-ratelimit-limit"], "5");
    assert_eq!(h["x-ratelimit-remaining"], "4");
    let id = m["id"].as_str().expect("id").to_owned();
    assert!((17..=19).contains(&id.len()));
    assert_eq!(m["author"]["id"], me);
    assert!(
        m.get("guild_id").is_none(),
        "REST messages carry no guild_id"
    );
    let ev = gw.dispatch("MESSAGE_CREATE").await;
    assert_eq!(ev["d"]["id"], id.as_str());
    assert_eq!(ev["d"]["guild_id"], g.id.to_string());
    assert!(ev["d"]["member"].is_object());

    let (s, _, e) = rest
        .call(
            "PATCH",
            &format!("/channels/{ch}/messages/{id}"),
            Some(json!({"content": "edited"})),
        )
        .await;
    assert_eq!((s, e["content"].as_str()), (StatusCode::OK, Some("edited")));
    assert!(e["edited_timestamp"].is_string());
    assert_eq!(
        gw.dispatch("MESSAGE_UPDATE").await["d"]["content"],
        "edited"
    );

    let (s, _, _) = rest
        .call(
            "PUT",
            &format!("/channels/{ch}/messages/{id}/reactions/%F0%9F%91%8D/@me"),
            None,
        )
        .await;
    assert_eq!(s, 204);
    let r = gw.dispatch("MESSAGE_REACTION_ADD").await;
    assert_eq!(r["d"]["emoji"]["name"], "👍");
    // Reactions are limited to 1 per 250 ms per channel: a second one at once is a 429 that
    // says how long to wait, and after that wait it goes through.
    let tada = format!("/channels/{ch}/messages/{id}/reactions/%F0%9F%8E%89/@me");
    let (s, h, v) = rest.call("PUT", &tada, None).await;
    assert_eq!(s, 429, "{v}");
    assert_eq!(h["x-ratelimit-scope"], "user");
    assert_eq!(h["x-ratelimit-limit"], "1");
    let retry = v["retry_after"].as_f64().expect("retry_after");
    assert!(retry > 0.0 && retry <= 0.25, "{retry}");
    tokio::time::sleep(std::time::Duration::from_secs_f64(retry)).await;
    let (s, _, v) = rest.call("PUT", &tada, None).await;
    assert_eq!(s, 204, "{v}");
    assert_eq!(
        gw.dispatch("MESSAGE_REACTION_ADD").await["d"]["emoji"]["name"],
        "🎉"
    );
    tokio::time::sleep(std::time::Duration::from_millis(260)).await;
    let (s, _, v) = rest
        .call(
            "PUT",
            &format!("/channels/{ch}/messages/{id}/reactions/abc/@me"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(10014))
    );
    let (_, _, one) = rest
        .call("GET", &format!("/channels/{ch}/messages/{id}"), None)
        .await;
    assert_eq!(one["reactions"].as_array().map(Vec::len), Some(2));
    assert_eq!(one["reactions"][0]["count"], 1);

    let (s, _, _) = rest
        .call("POST", &format!("/channels/{ch}/typing"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(gw.dispatch("TYPING_START").await["d"]["user_id"], me);

    for i in 0..3 {
        rest.call(
            "POST",
            &format!("/channels/{ch}/messages"),
            Some(json!({"content": format!("n{i}")})),
        )
        .await;
    }
    let (_, _, list) = rest
        .call("GET", &format!("/channels/{ch}/messages?limit=2"), None)
        .await;
    let list = list.as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["content"], "n2", "newest first");
    let ids: Vec<Value> = list.iter().map(|m| m["id"].clone()).collect();
    let (s, _, _) = rest
        .call(
            "POST",
            &format!("/channels/{ch}/messages/bulk-delete"),
            Some(json!({"messages": ids})),
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        gw.dispatch("MESSAGE_DELETE_BULK").await["d"]["ids"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (s, _, _) = rest
        .call("DELETE", &format!("/channels/{ch}/messages/{id}"), None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(gw.dispatch("MESSAGE_DELETE").await["d"]["id"], id.as_str());
}

#[tokio::test]
async fn guilds_members_dms_commands_and_interactions() {
    let sim = fast_sim().await;
    let rest = Rest::new(&sim);
    let (mut gw, ready) = Client::ready(&sim, TOKEN, 1 | (1 << 9) | (1 << 12), None).await;
    let app = ready["application"]["id"].as_str().expect("app").to_owned();
    let g = &sim.world().guilds[1];
    let (_, _, guild) = rest.call("GET", &format!("/guilds/{}", g.id), None).await;
    assert_eq!(guild["name"], g.name.as_str());
    let (_, _, chans) = rest
        .call("GET", &format!("/guilds/{}/channels", g.id), None)
        .await;
    assert_eq!(chans.as_array().map(Vec::len), Some(g.channels.len()));
    let (_, _, members) = rest
        .call("GET", &format!("/guilds/{}/members?limit=1000", g.id), None)
        .await;
    assert_eq!(members.as_array().map(Vec::len), Some(g.members.len() + 1));
    let uid = g.members[2].user.id;
    let (_, _, m) = rest
        .call("GET", &format!("/guilds/{}/members/{uid}", g.id), None)
        .await;
    assert_eq!(m["user"]["id"], uid.to_string());
    let (s, _, v) = rest
        .call("GET", &format!("/guilds/{}/members/1", g.id), None)
        .await;
    assert_eq!(
        (s, v["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(10007))
    );
    let (_, _, mine) = rest.call("GET", "/users/@me/guilds", None).await;
    assert_eq!(
        mine.as_array().map(Vec::len),
        Some(sim.world().guilds.len())
    );
    assert!(mine[0].get("approximate_member_count").is_none());
    // hikari asks with `with_counts` (Discord takes true, True or 1) and pages with `before`
    let mut ids: Vec<u64> = sim.world().guilds.iter().map(|g| g.id).collect();
    ids.sort_unstable();
    let last = ids[ids.len() - 1];
    let (_, _, page) = rest
        .call(
            "GET",
            &format!("/users/@me/guilds?with_counts=True&limit=2&before={last}"),
            None,
        )
        .await;
    let got: Vec<&str> = page
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|g| g["id"].as_str())
        .collect();
    let want: Vec<String> = ids[ids.len() - 3..ids.len() - 1]
        .iter()
        .map(u64::to_string)
        .collect();
    assert_eq!(got, want, "the last two before {last}, in order");
    assert!(page[0]["approximate_member_count"].is_u64(), "{page}");

    let (_, _, roles) = rest
        .call("GET", &format!("/guilds/{}/roles", g.id), None)
        .await;
    assert_eq!(roles.as_array().map(Vec::len), Some(g.roles.len()));
    let role = g.roles[0].id;
    let (s, _, r) = rest
        .call("GET", &format!("/guilds/{}/roles/{role}", g.id), None)
        .await;
    assert_eq!(
        (s, r["id"].as_str()),
        (StatusCode::OK, Some(role.to_string().as_str()))
    );
    let (s, _, r) = rest
        .call("GET", &format!("/guilds/{}/roles/1", g.id), None)
        .await;
    assert_eq!(
        (s, r["code"].as_u64()),
        (StatusCode::NOT_FOUND, Some(10011))
    );
    let (_, _, emojis) = rest
        .call("GET", &format!("/guilds/{}/emojis", g.id), None)
        .await;
    assert_eq!(emojis, json!([]));
    let name = &g.members[3].user.username;
    let prefix: String = name.chars().take(3).collect::<String>().to_uppercase();
    let (_, _, found) = rest
        .call(
            "GET",
            &format!("/guilds/{}/members/search?query={prefix}&limit=1000", g.id),
            None,
        )
        .await;
    let found = found.as_array().expect("a list");
    assert!(
        found.iter().any(|m| m["user"]["username"] == name.as_str()),
        "{found:?}"
    );
    assert!(found.iter().all(|m| {
        let starts = |v: &serde_json::Value| {
            v.as_str()
                .is_some_and(|n| n.to_uppercase().starts_with(&prefix))
        };
        starts(&m["user"]["username"]) || starts(&m["nick"])
    }));
    let (s, _, e) = rest
        .call("GET", &format!("/guilds/{}/members/search", g.id), None)
        .await;
    assert_eq!(
        (s, e["code"].as_u64()),
        (StatusCode::BAD_REQUEST, Some(50035))
    );

    let (s, _, dm) = rest
        .call(
            "POST",
            "/users/@me/channels",
            Some(json!({"recipient_id": uid.to_string()})),
        )
        .await;
    assert_eq!((s, dm["type"].as_u64()), (StatusCode::OK, Some(1)));
    let dm_id = dm["id"].as_str().expect("dm").to_owned();
    rest.call(
        "POST",
        &format!("/channels/{dm_id}/messages"),
        Some(json!({"content": "dm hi"})),
    )
    .await;
    let ev = gw.dispatch("MESSAGE_CREATE").await;
    assert_eq!(ev["d"]["channel_id"], dm_id.as_str());
    assert!(ev["d"].get("guild_id").is_none());

    let (s, _, cmds) = rest
        .call(
            "PUT",
            &format!("/applications/{app}/commands"),
            Some(json!([{"name": "ping", "description": "pong"}])),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(cmds[0]["application_id"], app.as_str());
    let (_, _, listed) = rest
        .call("GET", &format!("/applications/{app}/commands"), None)
        .await;
    assert_eq!(listed[0]["name"], "ping");

    let ch = first_text_channel(&sim, 1);
    let created = sim
        .inject(&switchyard_sim::Inject::Interaction {
            channel_id: switchyard_sim::Snowflake(ch),
            command: "ping".into(),
            bot_id: None,
            user_id: None,
        })
        .expect("interaction");
    let ic = gw.dispatch("INTERACTION_CREATE").await;
    assert_eq!(ic["d"]["data"]["name"], "ping");
    assert!(ic["d"]["member"]["user"]["id"].is_string());
    let (id, token) = (
        created["id"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    let http = reqwest::Client::new();
    let cb = http
        .post(format!(
            "{}/interactions/{id}/{token}/callback",
            sim.api_url()
        ))
        .header("Content-Type", "application/json")
        .body(json!({"type": 4, "data": {"content": "pong"}}).to_string())
        .send()
        .await
        .expect("callback");
    assert_eq!(cb.status(), 204, "no auth needed");
    assert_eq!(gw.dispatch("MESSAGE_CREATE").await["d"]["content"], "pong");
    let again = http
        .post(format!(
            "{}/interactions/{id}/{token}/callback",
            sim.api_url()
        ))
        .header("Content-Type", "application/json")
        .body(json!({"type": 4, "data": {"content": "pong"}}).to_string())
        .send()
        .await
        .expect("callback");
    assert_eq!(again.json::<Value>().await.expect("json")["code"], 40060);
    let orig: Value = http
        .get(format!(
            "{}/webhooks/{app}/{token}/messages/@original",
            sim.api_url()
        ))
        .send()
        .await
        .expect("orig")
        .json()
        .await
        .expect("json");
    assert_eq!(orig["content"], "pong");
    let follow: Value = http
        .post(format!(
            "{}/webhooks/{app}/{token}?wait=true",
            sim.api_url()
        ))
        .header("Content-Type", "application/json")
        .body(json!({"content": "follow-up"}).to_string())
        .send()
        .await
        .expect("follow")
        .json()
        .await
        .expect("json");
    assert_eq!(follow["webhook_id"], app.as_str());
}
