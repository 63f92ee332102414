//! Against Discord's models: every payload the fake sends in the churn's stream deserializes
//! with twilight-model.

use std::collections::BTreeMap;

use serde::de::DeserializeSeed;
use serde_json::Value;
use twilight_model::gateway::event::{DispatchEvent, DispatchEventWithTypeDeserializer};

/// `d` read as Discord's model of event `name`.
pub fn model(name: &str, d: &Value) -> Result<DispatchEvent, serde_json::Error> {
    let text = d.to_string();
    let mut de = serde_json::Deserializer::from_str(&text);
    DispatchEventWithTypeDeserializer::new(name).deserialize(&mut de)
}

#[test]
fn every_payload_the_fake_sends_deserializes_with_twilight_model() {
    let mut churn = crate::churn(13);
    let mut payloads: Vec<(&'static str, Value)> = crate::start(&churn);
    payloads.extend(crate::stream(&mut churn).into_iter().map(|e| (e.name, e.d)));
    let mut read = BTreeMap::<&str, usize>::new();
    let mut failures = BTreeMap::<&str, String>::new();
    for (at, (name, d)) in payloads.iter().enumerate() {
        match model(name, d) {
            Ok(_) => *read.entry(name).or_default() += 1,
            Err(e) => {
                failures
                    .entry(name)
                    .or_insert_with(|| format!("#{at} {name}: {e}\n    {d}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "payloads twilight-model refuses (the first of each event):\n{}",
        failures.into_values().collect::<Vec<_>>().join("\n")
    );
    assert!(read.len() >= 30, "every kind of event: {read:?}");
}
