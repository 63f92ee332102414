//! The published JSON Schema and the encoder agree: every required field is written, and
//! every written field is described.

use switchyard_core::envelope::{Source, encode_into, encode_synthetic_into};
use switchyard_core::parse_dispatch;

#[test]
fn schema_describes_exactly_what_the_encoder_writes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/envelope.schema.json"
    );
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
            .expect("schema is JSON");
    let frame = r#"{"op":0,"s":1,"t":"TYPING_START","d":{"channel_id":"2","user_id":"3"}}"#;
    let dispatch = parse_dispatch(frame).expect("routable");
    let source = Source {
        platform: "discord",
        bot: "b",
        shard: 0,
        session: "s",
        epoch: None,
    };
    let mut out = Vec::new();
    encode_into(&mut out, &source, &dispatch, 1, Some("{}"));
    let written: serde_json::Value = serde_json::from_slice(&out).expect("envelope is JSON");
    let written = written.as_object().expect("object");
    let mut made_up = Vec::new();
    encode_synthetic_into(
        &mut made_up,
        &source,
        &dispatch,
        1,
        Some("{}"),
        ("rebuild", 1, 0),
    );
    let made_up: serde_json::Value = serde_json::from_slice(&made_up).expect("envelope is JSON");
    let made_up = made_up.as_object().expect("object");
    assert_eq!(made_up["synthetic"], "rebuild");

    let properties = schema["properties"].as_object().expect("properties");
    for key in written.keys().chain(made_up.keys()) {
        assert!(properties.contains_key(key), "schema lacks `{key}`");
    }
    for key in schema["required"].as_array().expect("required") {
        let key = key.as_str().expect("string");
        assert!(
            written.contains_key(key),
            "encoder does not write required `{key}`"
        );
    }
    assert_eq!(schema["properties"]["v"]["const"], written["v"]);
}

mod outbound {
    use serde_json::{Value, json};
    use switchyard_core::outbound::{
        Answer, CommandMessage, ErrorKind, ErrorReport, GatewayCommand, parse,
    };

    fn schema() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/outbound.schema.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema file"))
            .expect("schema is JSON")
    }

    /// Every key `written` has is described in `def`, and every key `def` requires is written.
    fn agree(schema: &Value, def: &str, written: &Value) {
        let def = &schema["$defs"][def];
        let properties = def["properties"].as_object().expect("properties");
        let written = written.as_object().expect("object");
        for key in written.keys() {
            assert!(properties.contains_key(key), "{def}: schema lacks `{key}`");
        }
        for key in def["required"].as_array().into_iter().flatten() {
            let key = key.as_str().expect("string");
            assert!(
                written.contains_key(key),
                "`{key}` is required but not written"
            );
        }
        for key in properties.keys() {
            assert!(
                written.contains_key(key),
                "the schema describes `{key}`, never written"
            );
        }
    }

    #[test]
    fn the_schema_s_examples_are_outbound_messages() {
        let schema = schema();
        let examples = schema["examples"].as_array().expect("examples");
        assert!(examples.len() >= 6);
        for example in examples {
            let payload = example.to_string();
            parse("outbound.discord.1.2.3", payload.as_bytes())
                .unwrap_or_else(|e| panic!("{payload}: {}", e.reason));
        }
    }

    #[test]
    fn schema_describes_every_outbound_shape() {
        let schema = schema();
        let kinds: Vec<&str> = schema["$defs"]["kind"]["enum"]
            .as_array()
            .expect("kinds")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let ours: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(kinds, ours);

        let full = Answer {
            ok: false,
            status: Some(404),
            body: Some(json!({})),
            queued_ms: Some(1),
            kind: Some(ErrorKind::NoHolder),
            error: Some("x".into()),
            retry_after_ms: Some(5),
            command: Some("update_presence".into()),
            shard: Some(0),
            event: Some("GUILD_MEMBERS_CHUNK".into()),
            d: Some(json!({})),
        };
        agree(
            &schema,
            "answer",
            &serde_json::to_value(&full).expect("json"),
        );
        let report = ErrorReport {
            topic: "outbound.discord.0.0.0".into(),
            kind: ErrorKind::QueueFull,
            reason: "x".into(),
            payload: "{}".into(),
            status: Some(429),
            discord: Some(json!({})),
            retry_after_ms: Some(1),
        };
        agree(
            &schema,
            "error_report",
            &serde_json::to_value(&report).expect("json"),
        );

        for command in [
            json!({"command": "update_presence", "shard": 0, "since": 1, "activities": [], "status": "idle", "afk": false}),
            json!({"command": "update_voice_state", "guild_id": "1", "channel_id": "2", "self_mute": true, "self_deaf": false}),
            json!({"command": "request_guild_members", "guild_id": "1", "query": "a", "limit": 1, "presences": true, "user_ids": ["3"], "nonce": "n"}),
        ] {
            let parsed: GatewayCommand = serde_json::from_value(command.clone()).expect("command");
            let message = CommandMessage {
                command: parsed,
                reply_to: Some("inbound.rest.x.1".into()),
                ack_to: None,
                at_ms: None,
            };
            let written = serde_json::to_value(&message).expect("json");
            let name = command["command"].as_str().expect("name");
            agree(&schema, name, &written);
        }
    }
}
