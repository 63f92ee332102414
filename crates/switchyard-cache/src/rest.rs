//! What the compact types do not model, kept so that what comes in comes back out: the
//! leftover `"key": value` pairs of an object ([`Rest`]), interned per cache, since most
//! objects of a kind carry the same leftovers (a user's `"banner":null,"clan":null,…`), so
//! that each distinct set is kept once.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde_json::value::RawValue;

/// The sets of one cache, by their text (`Rest` hashes and compares as its text).
type Set = std::collections::HashSet<Rest, foldhash::fast::RandomState>;

/// Leftover fields of one object, shared by every object with the same ones.
#[derive(Debug, Clone)]
pub(crate) struct Rest(Arc<Fields>);

#[derive(Debug)]
struct Fields {
    /// `"key":value,` for each, as read: what identifies the set.
    text: Box<str>,
    fields: Box<[(Box<str>, Box<RawValue>)]>,
}

impl Rest {
    /// About what one set holds: its text twice (as read, and split into fields).
    fn heap_bytes(&self) -> usize {
        2 * self.0.text.len() + self.0.fields.len() * size_of::<(Box<str>, Box<RawValue>)>()
    }
}

impl Rest {
    /// The fields, in the order they came.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.0.fields.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Writes the fields into a map being serialized.
    pub fn serialize_into<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        self.fields()
            .try_for_each(|(k, v)| map.serialize_entry(k, v))
    }
}

impl PartialEq for Rest {
    fn eq(&self, other: &Self) -> bool {
        self.0.text == other.0.text
    }
}

impl Eq for Rest {}

impl Hash for Rest {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.0.text.hash(h);
    }
}

impl Borrow<str> for Rest {
    fn borrow(&self) -> &str {
        &self.0.text
    }
}

/// Leftover fields as read: `"key":value,` for each, copied from the payload (one string,
/// whatever their number: most are found interned already and dropped).
#[derive(Debug, Default)]
pub(crate) struct Leftovers<'de> {
    text: String,
    payload: PhantomData<&'de str>,
}

impl<'de> Leftovers<'de> {
    pub fn push(&mut self, key: Key<'_>, value: &RawValue) {
        if self.text.is_empty() {
            self.text.reserve(256);
        }
        let key = key.0;
        // Keys come unescaped; those that need it are escaped again.
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.text.push('"');
            self.text.push_str(&key);
            self.text.push('"');
        } else if let Ok(k) = serde_json::to_string(&*key) {
            self.text.push_str(&k);
        }
        self.text.push(':');
        self.text.push_str(value.get());
        self.text.push(',');
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The fields, read back from the text (only for a set seen for the first time).
    fn fields(&self) -> Vec<(String, Box<RawValue>)> {
        let object = format!("{{{}}}", self.text.trim_end_matches(','));
        serde_json::from_str::<Pairs>(&object)
            .map(|p| p.0)
            .unwrap_or_default()
    }
}

/// An object's fields in their order.
struct Pairs(Vec<(String, Box<RawValue>)>);

impl<'de> Deserialize<'de> for Pairs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Pairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(Pairs(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// The distinct leftover sets of one cache.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    sets: Set,
    /// The size after the last sweep of sets no object uses any more.
    swept: usize,
}

impl Interner {
    /// About what the distinct leftover sets hold.
    pub fn heap_bytes(&self) -> usize {
        self.sets.iter().map(Rest::heap_bytes).sum()
    }

    /// The shared set for `leftovers` (`None` when there are none).
    pub fn intern(&mut self, leftovers: Leftovers<'_>) -> Option<Rest> {
        if leftovers.is_empty() {
            return None;
        }
        if let Some(rest) = self.sets.get(leftovers.text.as_str()) {
            return Some(rest.clone());
        }
        if self.sets.len() > 2 * self.swept + 1024 {
            self.sets.retain(|r| Arc::strong_count(&r.0) > 1);
            self.swept = self.sets.len();
        }
        let fields = leftovers
            .fields()
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v))
            .collect();
        let rest = Rest(Arc::new(Fields {
            text: leftovers.text.into_boxed_str(),
            fields,
        }));
        self.sets.insert(rest.clone());
        Some(rest)
    }

    /// `update`'s fields laid over `cached`'s (for partial updates).
    pub fn merge(&mut self, cached: Option<&Rest>, update: Leftovers<'_>) -> Option<Rest> {
        let Some(cached) = cached else {
            return self.intern(update);
        };
        if update.is_empty() {
            return Some(cached.clone());
        }
        let new = update.fields();
        let mut merged = Leftovers::default();
        for (k, v) in cached.fields() {
            if !new.iter().any(|(n, _)| n == k) {
                merged.push(Key(Cow::Borrowed(k)), v);
            }
        }
        for (k, v) in &new {
            merged.push(Key(Cow::Borrowed(k)), v);
        }
        self.intern(merged)
    }

    /// How many distinct sets are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.sets.len()
    }
}

/// An object key, borrowed from the payload when it has no escapes.
#[derive(Debug)]
pub(crate) struct Key<'de>(pub Cow<'de, str>);

impl Key<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(json: &str) -> Leftovers<'_> {
        let map: Vec<(&str, &RawValue)> =
            serde_json::from_str::<std::collections::BTreeMap<&str, &RawValue>>(json)
                .expect("json")
                .into_iter()
                .collect();
        let mut l = Leftovers::default();
        for (k, v) in map {
            l.push(Key(Cow::Borrowed(k)), v);
        }
        l
    }

    #[test]
    fn the_same_leftovers_are_kept_once() {
        let mut i = Interner::default();
        let a = i.intern(leftovers(r#"{"banner":null,"clan":null}"#));
        let b = i.intern(leftovers(r#"{"banner":null,"clan":null}"#));
        let c = i.intern(leftovers(r#"{"banner":"x","clan":null}"#));
        assert_eq!(i.len(), 2);
        let (a, b) = (a.expect("a"), b.expect("b"));
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_ne!(Some(a), c);
        assert!(i.intern(Leftovers::default()).is_none());
    }

    #[test]
    fn an_update_lays_its_fields_over_the_cached_ones() {
        let mut i = Interner::default();
        let cached = i.intern(leftovers(r#"{"a":1,"b":2}"#));
        let merged = i
            .merge(cached.as_ref(), leftovers(r#"{"b":3,"c":4}"#))
            .expect("merged");
        let fields: Vec<(&str, &str)> = merged.fields().map(|(k, v)| (k, v.get())).collect();
        assert_eq!(fields, [("a", "1"), ("b", "3"), ("c", "4")]);
    }
}
