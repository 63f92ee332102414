//! The block index against byte-at-a-time references.

use super::*;

fn nested_end(bytes: &[u8], start: usize) -> Result<usize, IndexError> {
    let mut storage = Storage::new();
    Index::new(bytes, &mut storage).nested_end(start)
}
use proptest::prelude::*;

/// The reference: one byte at a time.
fn scalar_end(bytes: &[u8], mut i: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let mut in_string = false;
    while let Some(&b) = bytes.get(i) {
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'\\' => return None,
                b'"' => in_string = true,
                b'{' => stack.push(b'}'),
                b'[' => stack.push(b']'),
                b'}' | b']' => {
                    if stack.pop() != Some(b) {
                        return None;
                    }
                    if stack.is_empty() {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        // Strings full of the characters that matter: quotes, backslashes, brackets.
        "[\"\\\\{}\\[\\]a ]{0,80}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::vec(("[\"\\\\{a]{0,6}", inner), 0..6)
                .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn agrees_with_the_scalar_scan(value in json_value(), pad in 0usize..70, tail in "[ ,}\\]]{0,3}") {
        let body = match &value {
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => value.to_string(),
            other => format!("[{other}]"),
        };
        let text = format!("{}{body}{tail}", " ".repeat(pad));
        let bytes = text.as_bytes();
        prop_assert_eq!(nested_end(bytes, pad).ok(), scalar_end(bytes, pad));
        prop_assert_eq!(nested_end(bytes, pad).ok(), Some(pad + body.len()));
    }

    #[test]
    fn never_panics_and_agrees_on_arbitrary_bytes(
        text in "[\\[{][\"\\\\{}\\[\\]a ]{0,200}",
    ) {
        let bytes = text.as_bytes();
        prop_assert_eq!(nested_end(bytes, 0).ok(), scalar_end(bytes, 0));
    }
}

#[test]
fn escapes_across_block_boundaries() {
    // A string whose backslash run straddles the 64-byte boundary.
    for run in 1..6 {
        for offset in 55..66 {
            let mut s = String::from("[\"");
            s.push_str(&"a".repeat(offset));
            s.push_str(&"\\".repeat(run * 2));
            s.push_str("\\\"]\"]");
            let bytes = s.as_bytes();
            assert_eq!(nested_end(bytes, 0).ok(), scalar_end(bytes, 0), "{s}");
        }
    }
}
