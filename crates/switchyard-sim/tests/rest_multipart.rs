//! `multipart/form-data` bodies, as bots send them to upload files: `payload_json` plus
//! `files[n]` parts, for channel messages, their edits, interaction callbacks, follow-ups and
//! `@original` edits.

mod common;

use common::{Client, TOKEN, fast_sim, first_text_channel};
use serde_json::{Value, json};
use switchyard_sim::{Inject, SimHandle, Snowflake};

const BOUNDARY: &str = "switchyard-test-boundary";

/// A part of a multipart body: (name, file name, bytes).
type Part<'a> = (&'a str, Option<&'a str>, &'a [u8]);

fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in parts {
        out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match filename {
            Some(f) => out.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// Sends a multipart request (with the bot token when `auth`); returns status and JSON body.
async fn send(
    sim: &SimHandle,
    method: &str,
    path: &str,
    auth: bool,
    parts: &[Part<'_>],
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = reqwest::Client::new()
        .request(m, format!("{}{path}", sim.api_url()))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(multipart(parts));
    if auth {
        req = req.header("Authorization", format!("Bot {TOKEN}"));
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("json body")
    };
    (status, v)
}

#[tokio::test]
async fn channel_messages_accept_payload_json_and_files() {
    let sim = fast_sim().await;
    let (mut gw, _) = Client::ready(&sim, TOKEN, 1 | (1 << 9) | (1 << 15), None).await;
    let ch = first_text_channel(&sim, 0);
    let path = format!("/channels/{ch}/messages");
    let payload =
        json!({"content": "with a file", "attachments": [{"id": 0, "description": "notes"}]})
            .to_string();
    let (s, m) = send(
        &sim,
        "POST",
        &path,
        true,
        &[
            ("payload_json", None, payload.as_bytes()),
            ("files[0]", Some("notes.txt"), b"hello"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["content"], "with a file");
    let a = &m["attachments"][0];
    assert_eq!(
        (&a["filename"], &a["size"], &a["description"]),
        (&json!("notes.txt"), &json!(5), &json!("notes"))
    );
    assert!(a["id"].as_str().is_some_and(|id| id.len() >= 17));
    let ev = gw.dispatch("MESSAGE_CREATE").await;
    assert_eq!(ev["d"]["attachments"][0]["filename"], "notes.txt");

    // A file alone is a message; plain text fields stand in for payload_json.
    let (s, only_file) = send(
        &sim,
        "POST",
        &path,
        true,
        &[("files[0]", Some("a.png"), &[0x89, b'P', b'N', b'G'])],
    )
    .await;
    assert_eq!(s, 200, "{only_file}");
    assert_eq!(only_file["attachments"][0]["size"], 4);
    let (s, text) = send(
        &sim,
        "POST",
        &path,
        true,
        &[("content", None, b"plain field")],
    )
    .await;
    assert_eq!((s, &text["content"]), (200, &json!("plain field")));

    // An edit keeps the attachments it lists and adds the new files.
    let id = m["id"].as_str().expect("id");
    let keep = json!({"content": "edited", "attachments": [{"id": a["id"]}]}).to_string();
    let (s, e) = send(
        &sim,
        "PATCH",
        &format!("{path}/{id}"),
        true,
        &[
            ("payload_json", None, keep.as_bytes()),
            ("files[0]", Some("more.txt"), b"more"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{e}");
    let names: Vec<&str> = e["attachments"]
        .as_array()
        .expect("attachments")
        .iter()
        .filter_map(|a| a["filename"].as_str())
        .collect();
    assert_eq!(
        (e["content"].as_str(), names),
        (Some("edited"), vec!["notes.txt", "more.txt"])
    );

    let (s, bad) = send(
        &sim,
        "POST",
        &path,
        true,
        &[("payload_json", None, b"{nope")],
    )
    .await;
    assert_eq!((s, &bad["code"]), (400, &json!(50109)));
    let res = reqwest::Client::new()
        .post(format!("{}{path}", sim.api_url()))
        .header("Authorization", format!("Bot {TOKEN}"))
        .header("Content-Type", "multipart/form-data")
        .body("no boundary")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.expect("json")["code"], 50035);
}

#[tokio::test]
async fn interaction_responses_accept_multipart() {
    let sim = fast_sim().await;
    let (mut gw, ready) = Client::ready(&sim, TOKEN, 1 | (1 << 9) | (1 << 15), None).await;
    let app = ready["application"]["id"].as_str().expect("app").to_owned();
    let ch = first_text_channel(&sim, 0);
    let inject = || {
        sim.inject(&Inject::Interaction {
            channel_id: Snowflake(ch),
            command: "upload".into(),
            bot_id: None,
            user_id: None,
        })
        .expect("interaction")
    };

    // A callback with a file in its data.
    let i = inject();
    let (id, token) = (
        i["id"].as_str().expect("id"),
        i["token"].as_str().expect("t"),
    );
    let cb =
        json!({"type": 4, "data": {"content": "here", "attachments": [{"id": 0}]}}).to_string();
    let (s, v) = send(
        &sim,
        "POST",
        &format!("/interactions/{id}/{token}/callback"),
        false,
        &[
            ("payload_json", None, cb.as_bytes()),
            ("files[0]", Some("r.txt"), b"report"),
        ],
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let ev = gw.dispatch("MESSAGE_CREATE").await;
    assert_eq!(ev["d"]["attachments"][0]["filename"], "r.txt");

    // A deferred response filled in with a file, then a follow-up with one.
    let i = inject();
    let (id, token) = (
        i["id"].as_str().expect("id"),
        i["token"].as_str().expect("t"),
    );
    let (s, _) = send(
        &sim,
        "POST",
        &format!("/interactions/{id}/{token}/callback"),
        false,
        &[("payload_json", None, br#"{"type": 5}"#)],
    )
    .await;
    assert_eq!(s, 204);
    let (s, e) = send(
        &sim,
        "PATCH",
        &format!("/webhooks/{app}/{token}/messages/@original"),
        false,
        &[
            ("payload_json", None, br#"{"content": "ready"}"#),
            ("files[0]", Some("out.csv"), b"a,b"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{e}");
    assert_eq!(
        (&e["content"], &e["attachments"][0]["filename"]),
        (&json!("ready"), &json!("out.csv"))
    );
    let (s, f) = send(
        &sim,
        "POST",
        &format!("/webhooks/{app}/{token}"),
        false,
        &[
            ("payload_json", None, br#"{"content": "and more"}"#),
            ("files[0]", Some("more.csv"), b"c,d"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{f}");
    assert_eq!(f["attachments"][0]["filename"], "more.csv");
}

#[tokio::test]
async fn uploads_are_taken_up_to_discords_request_size_and_refused_with_40005_beyond() {
    let sim = fast_sim().await;
    let ch = first_text_channel(&sim, 0);
    let path = format!("/channels/{ch}/messages");
    let payload = json!({"content": "a big file"}).to_string();
    fn parts<'a>(payload: &'a str, file: &'a [u8]) -> Vec<Part<'a>> {
        vec![
            ("payload_json", None, payload.as_bytes()),
            ("files[0]", Some("big.bin"), file),
        ]
    }
    // 5 MiB: over the web frameworks' usual 2 MB default, well within Discord's 25 MiB.
    let big = vec![b'x'; 5 << 20];
    let (s, m) = send(&sim, "POST", &path, true, &parts(&payload, &big)).await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["attachments"][0]["size"], big.len());
    let log = sim.counters().rest_calls;
    let call = log.last().expect("logged");
    assert!(
        call.body.len() < 100 << 10,
        "the log keeps the head of an upload, not all of it"
    );
    let size = multipart(&parts(&payload, &big)).len();
    assert!(call.body.ends_with(&format!("({size} bytes in all)")));

    let too_big = vec![b'x'; 26 << 20];
    let (s, m) = send(&sim, "POST", &path, true, &parts(&payload, &too_big)).await;
    assert_eq!(s, 413, "{m}");
    assert_eq!(m["code"], 40005);
    assert_eq!(m["message"], "Request entity too large");
}
