//! The face's REST API against the fake Discord, with a stock client whose only change is its
//! base URL: twilight-http 0.18 pointed at the face. The fake accepts the bot's real token
//! only, so every call it answers with 2xx was re-signed by the face; the face's own answers
//! (`/users/@me`, `/gateway/bot`, the application) never reach it.

mod rest_support;

use rest_support::{BOT_ID, Face, PUBLIC_URL, REAL, SHARDS, Setup, bot, face_token};
use serde_json::json;
use switchyard_face::FaceTokens;
use switchyard_rest::WaitMode;
use switchyard_sim::{Inject, Limit, RateLimits, Snowflake};
use twilight_model::http::attachment::Attachment;
use twilight_model::id::Id;

#[tokio::test]
async fn twilight_through_the_face_sends_with_the_real_token_and_reads_the_bot() {
    let face = Face::start(Setup::default()).await;
    let http = face.twilight();
    let channel = face.channel();

    let sent = http
        .create_message(Id::new(channel))
        .content("through the face")
        .await
        .expect("created")
        .model()
        .await
        .expect("a message");
    assert_eq!(sent.content, "through the face");
    assert_eq!(sent.author.id.get(), BOT_ID);
    let call = face.last_call();
    assert_eq!(
        (call.method.as_str(), call.path.as_str(), call.status),
        (
            "POST",
            format!("/api/v10/channels/{channel}/messages").as_str(),
            200
        ),
        "the fake accepts only the real token"
    );
    assert_eq!(call.bot_id, Some(BOT_ID.to_string()));
    assert!(
        face.sim
            .messages(channel)
            .iter()
            .any(|m| m["content"] == "through the face")
    );

    let before = face.upstream_requests();
    let me = http
        .current_user()
        .await
        .expect("users/@me")
        .model()
        .await
        .expect("a user");
    assert_eq!(me.id.get(), BOT_ID);
    assert_eq!(Some(me.name.as_str()), face.user["username"].as_str());
    assert!(me.bot);

    let app = http
        .current_user_application()
        .await
        .expect("the application")
        .model()
        .await
        .expect("an application");
    assert_eq!(app.id.get(), BOT_ID);
    assert_eq!(app.name, me.name);
    assert_eq!(app.bot.map(|u| u.id), Some(me.id));
    assert!(app.team.is_none());

    let gateway = http
        .gateway()
        .authed()
        .await
        .expect("gateway/bot")
        .model()
        .await
        .expect("gateway info");
    assert_eq!(gateway.url, PUBLIC_URL);
    assert_eq!(gateway.shards, SHARDS);
    let limit = gateway.session_start_limit;
    assert_eq!((limit.total, limit.remaining), (1000, 1000));
    assert_eq!(limit.max_concurrency, 16);
    assert_eq!(
        face.upstream_requests(),
        before,
        "the face answers these itself"
    );
}

#[tokio::test]
async fn the_face_answers_gateway_without_a_token_under_every_prefix() {
    let face = Face::start(Setup::default()).await;
    for prefix in ["/api", "/api/v9", "/api/v10"] {
        let (s, _, body) = face
            .call(
                reqwest::Method::GET,
                &format!("{prefix}/gateway"),
                None,
                None,
            )
            .await;
        assert_eq!((s, body), (200, json!({"url": PUBLIC_URL})), "{prefix}");
        let (s, _, body) = face
            .call(
                reqwest::Method::GET,
                &format!("{prefix}/gateway/bot"),
                Some(&bot(&face_token())),
                None,
            )
            .await;
        assert_eq!((s, &body["shards"]), (200, &json!(SHARDS)), "{prefix}");
    }
    // Other methods on the face's own paths are Discord's business.
    let before = face.upstream_requests();
    let edit = ("application/json", br#"{"username":"renamed"}"#.to_vec());
    face.call(
        reqwest::Method::PATCH,
        "/api/v10/users/@me",
        Some(&bot(&face_token())),
        Some(edit),
    )
    .await;
    assert_eq!(face.upstream_requests(), before + 1);
    let call = face.last_call();
    assert_eq!(
        (call.method.as_str(), call.path.as_str()),
        ("PATCH", "/api/v10/users/@me")
    );
}

#[tokio::test]
async fn a_wrong_token_gets_discords_401_and_reaches_nothing() {
    let face = Face::start(Setup::default()).await;
    let channel = face.channel();
    let before = face.upstream_requests();
    let other = FaceTokens::mint(BOT_ID, "not-the-face-secret-000000");
    let message = ("application/json", br#"{"content":"no"}"#.to_vec());
    let wrong = [
        bot(&other),
        bot(REAL),    // the real token is not a face token
        face_token(), // without `Bot `
        format!("Bearer {}", face_token()),
    ];
    for auth in &wrong {
        let path = format!("/api/v10/channels/{channel}/messages");
        let (s, h, body) = face
            .call(
                reqwest::Method::POST,
                &path,
                Some(auth),
                Some(message.clone()),
            )
            .await;
        assert_eq!(
            (s, body),
            (401, json!({"message": "401: Unauthorized", "code": 0}))
        );
        assert_eq!(h["content-type"], "application/json");
        for local in ["/api/v10/users/@me", "/api/v10/gateway/bot"] {
            let (s, _, _) = face
                .call(reqwest::Method::GET, local, Some(auth), None)
                .await;
            assert_eq!(s, 401, "{local}");
        }
    }
    assert_eq!(face.upstream_requests(), before, "nothing reached the fake");
    assert!(
        face.sim
            .messages(channel)
            .iter()
            .all(|m| m["content"] != "no")
    );
}

#[tokio::test]
async fn a_multipart_upload_passes_through_byte_for_byte() {
    let face = Face::start(Setup::default()).await;
    let channel = face.channel();
    let file = b"the file's bytes \x00\x01\x02 and more".to_vec();
    let attachments = [Attachment::from_bytes(
        "notes.bin".to_owned(),
        file.clone(),
        1,
    )];
    let sent = face
        .twilight()
        .create_message(Id::new(channel))
        .content("with a file")
        .attachments(&attachments)
        .await
        .expect("created")
        .model()
        .await
        .expect("a message");
    assert_eq!(sent.attachments.len(), 1);
    assert_eq!(sent.attachments[0].filename, "notes.bin");
    assert_eq!(sent.attachments[0].size, file.len() as u64);
    let call = face.last_call();
    assert_eq!(call.status, 200);
    assert!(call.body.contains("payload_json"), "{}", call.body);
    assert!(call.body.contains("the file's bytes"), "{}", call.body);
}

#[tokio::test]
async fn requests_without_authorization_are_forwarded_as_they_are() {
    let face = Face::start(Setup::default()).await;
    let channel = face.channel();
    let created = face
        .sim
        .inject(&Inject::Interaction {
            channel_id: Snowflake(channel),
            command: "ping".into(),
            bot_id: Some(Snowflake(BOT_ID)),
            user_id: None,
        })
        .expect("an interaction");
    let (id, token) = (
        created["id"].as_str().expect("id"),
        created["token"].as_str().expect("token"),
    );
    let callback = format!("/api/v10/interactions/{id}/{token}/callback");
    let reply = (
        "application/json",
        json!({"type": 4, "data": {"content": "pong"}})
            .to_string()
            .into_bytes(),
    );
    let (s, _, _) = face
        .call(reqwest::Method::POST, &callback, None, Some(reply))
        .await;
    assert_eq!(s, 204);
    let call = face.last_call();
    assert_eq!((call.path.as_str(), call.bot_id), (callback.as_str(), None));

    // Without a version, as v10.
    let original = format!("/api/webhooks/{BOT_ID}/{token}/messages/@original");
    let (s, _, message) = face.call(reqwest::Method::GET, &original, None, None).await;
    assert_eq!((s, &message["content"]), (200, &json!("pong")));
    assert_eq!(
        face.last_call().path,
        format!("/api/v10/webhooks/{BOT_ID}/{token}/messages/@original")
    );
}

#[tokio::test]
async fn a_request_the_limiter_refuses_is_a_discord_shaped_429() {
    let face = Face::start(Setup {
        wait: WaitMode::FailFast,
        rate_limits: RateLimits {
            message_create: Limit {
                limit: 2,
                window_ms: 60_000,
            },
            ..RateLimits::default()
        },
        ..Setup::default()
    })
    .await;
    let path = format!("/api/v10/channels/{}/messages", face.channel());
    let message = ("application/json", br#"{"content":"hi"}"#.to_vec());
    let auth = bot(&face_token());
    for _ in 0..2 {
        let (s, _, _) = face
            .call(
                reqwest::Method::POST,
                &path,
                Some(&auth),
                Some(message.clone()),
            )
            .await;
        assert_eq!(s, 200);
    }
    let before = face.upstream_requests();
    let (s, h, body) = face
        .call(reqwest::Method::POST, &path, Some(&auth), Some(message))
        .await;
    assert_eq!(s, 429);
    assert_eq!(h["x-switchyard-generated"], "rate-limit");
    assert_eq!(body["global"], false);
    assert!(
        body["retry_after"].as_f64().is_some_and(|r| r > 0.0),
        "{body}"
    );
    assert_eq!(
        face.upstream_requests(),
        before,
        "the fake saw no third call"
    );
    assert_eq!(face.sim.counters().rest.rate_limited_route, 0);
}

#[tokio::test]
async fn an_unreachable_upstream_is_a_502_with_a_json_body() {
    // A port that was just free: nothing listens on it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let face = Face::start(Setup {
        upstream: Some(format!("http://{closed}")),
        ..Setup::default()
    })
    .await;
    let (s, h, body) = face
        .call(
            reqwest::Method::GET,
            "/api/v10/channels/1",
            Some(&bot(&face_token())),
            None,
        )
        .await;
    assert_eq!(s, 502);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(body["switchyard"], "upstream-unreachable");
    assert_eq!(body["code"], 0);
}

#[tokio::test]
async fn before_the_bot_is_ready_its_own_routes_are_503() {
    let face = Face::start(Setup {
        ready: false,
        ..Setup::default()
    })
    .await;
    for path in [
        "/api/v10/users/@me",
        "/api/v10/oauth2/applications/@me",
        "/api/v10/gateway/bot",
    ] {
        let (s, _, body) = face
            .call(reqwest::Method::GET, path, Some(&bot(&face_token())), None)
            .await;
        assert_eq!(
            (s, &body["switchyard"]),
            (503, &json!("not-ready")),
            "{path}"
        );
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("not ready"))
        );
    }
    // Forwarded routes do not need the bot's state.
    let path = format!("/api/v10/channels/{}", face.channel());
    let (s, _, _) = face
        .call(reqwest::Method::GET, &path, Some(&bot(&face_token())), None)
        .await;
    assert_eq!(s, 200);
}
