//! The published JSON Schema and the encoder agree: every required field is written, and
//! every written field is described.

use switchyard_core::envelope::{Source, encode_into};
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
    };
    let mut out = Vec::new();
    encode_into(&mut out, &source, &dispatch, 1, Some("{}"));
    let written: serde_json::Value = serde_json::from_slice(&out).expect("envelope is JSON");
    let written = written.as_object().expect("object");

    let properties = schema["properties"].as_object().expect("properties");
    for key in written.keys() {
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
