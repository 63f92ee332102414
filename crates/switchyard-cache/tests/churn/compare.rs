//! Comparing the cache's answers with the state's: as JSON, with a list of the paths that
//! differ on failure.

use serde::Serialize;
use serde_json::Value;

/// Anything serializable (`&RawValue`, `Box<RawValue>`) as a JSON value.
pub fn json<T: Serialize + ?Sized>(x: &T) -> Value {
    let text = serde_json::to_string(x).expect("serializes");
    serde_json::from_str(&text).expect("is JSON")
}

/// The paths where `got` and `want` differ (at most 30), each with both values, which
/// `names` name.
pub fn diff(got: &Value, want: &Value, names: [&str; 2]) -> Vec<String> {
    let mut out = Vec::new();
    walk("", got, want, names, &mut out);
    out
}

fn walk(path: &str, got: &Value, want: &Value, names: [&str; 2], out: &mut Vec<String>) {
    let [a_name, b_name] = names;
    if out.len() >= 30 || got == want {
        return;
    }
    match (got, want) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (x, y) = (a.get(k), b.get(k));
                let p = format!("{path}/{k}");
                match (x, y) {
                    (Some(x), Some(y)) => walk(&p, x, y, names, out),
                    (Some(x), None) => {
                        out.push(format!("{p}: {a_name} has {x}, {b_name} has no such key"));
                    }
                    (None, Some(y)) => {
                        out.push(format!("{p}: {a_name} has no such key, {b_name} has {y}"));
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{path}/{i}"), x, y, names, out);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let ids = |l: &[Value]| -> Vec<Value> { l.iter().map(|v| v["id"].clone()).collect() };
            let (ia, ib) = (ids(a), ids(b));
            let only_a: Vec<&Value> = ia.iter().filter(|i| !ib.contains(i)).collect();
            let only_b: Vec<&Value> = ib.iter().filter(|i| !ia.contains(i)).collect();
            out.push(format!(
                "{path}: {a_name} has {} items, {b_name} {}; ids only in {a_name}: {only_a:?}, only in {b_name}: {only_b:?}",
                a.len(),
                b.len()
            ));
        }
        _ => out.push(format!("{path}: {a_name} has {got}, {b_name} has {want}")),
    }
}

/// Fails with the differing paths unless the cache's answer `got` equals the state's `want`.
#[track_caller]
pub fn same(what: &str, got: &Value, want: &Value) {
    same_as(what, ["cache", "state"], got, want);
}

/// Fails with the differing paths unless `a` equals `b`, which `names` name.
#[track_caller]
pub fn same_as(what: &str, names: [&str; 2], a: &Value, b: &Value) {
    if a != b {
        let [a_name, b_name] = names;
        panic!(
            "{what}: {a_name} and {b_name} differ:\n  {}\n{a_name}: {a}\n{b_name}: {b}",
            diff(a, b, names).join("\n  ")
        );
    }
}

/// `v` without `key`.
pub fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
    v
}

/// The objects of `list` in the order of their ids.
pub fn by_id(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by_key(|v| v["id"].as_str().and_then(|s| s.parse::<u64>().ok()));
    list
}

/// A snowflake of a JSON object's field.
pub fn id(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a snowflake: {v}"))
}
