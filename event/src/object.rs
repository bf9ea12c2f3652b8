//! One event's JSON object, read in one pass and borrowed from the request or record it came in: its
//! attribute names and their values as raw JSON text, copied only when an attribute becomes part of the event.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The attributes of one event, in the order the object held them. A name given twice keeps its last value,
/// as JSON parsers commonly do.
#[derive(Debug, Default)]
pub(crate) struct RawObject<'a> {
    attributes: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Parses `bytes` as one JSON object, borrowing from them.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Takes the value of attribute `name` out of the object.
    pub(crate) fn take(&mut self, name: &str) -> Option<&'a RawValue> {
        let at = self.attributes.iter().position(|(n, _)| n == name)?;
        Some(self.attributes.swap_remove(at).1)
    }

    /// The attributes not taken yet, sorted by name.
    pub(crate) fn into_sorted(mut self) -> Vec<(Cow<'a, str>, &'a RawValue)> {
        self.attributes.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        self.attributes
    }

    fn insert(&mut self, name: Cow<'a, str>, value: &'a RawValue) {
        match self.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((name, value)),
        }
    }
}

/// The text of a JSON string, borrowed when it holds no escape, if `raw` is a string.
pub fn string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let json = raw.get();
    let inner = json.strip_prefix('"')?.strip_suffix('"')?;
    // Well-formed JSON (the parser checked it): a string without a backslash is its text between the quotes.
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(json).ok().map(Cow::Owned)
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = RawObject<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = RawObject {
            attributes: Vec::with_capacity(map.size_hint().unwrap_or(12)),
        };
        while let Some(Name(name)) = map.next_key()? {
            let value: &'de RawValue = map.next_value()?;
            object.insert(name, value);
        }
        Ok(object)
    }
}

/// An attribute name, borrowed unless it holds an escape.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(NameVisitor)
    }
}

struct NameVisitor;

impl<'de> Visitor<'de> for NameVisitor {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute name")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Name(Cow::Owned(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_borrowed_and_the_last_of_a_repeated_name_wins() {
        let json = br#"{"b":1,"a\u0041":"x","b":[2]}"#;
        let mut object = RawObject::parse(json).unwrap();
        assert_eq!(object.take("b").map(RawValue::get), Some("[2]"));
        assert!(object.take("b").is_none());
        let rest = object.into_sorted();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].0, "aA");
        assert!(matches!(rest[0].0, Cow::Owned(_)));
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let raw = |s: &str| serde_json::from_str::<Box<RawValue>>(s).unwrap();
        assert!(matches!(
            string(&raw(r#""plain""#)),
            Some(Cow::Borrowed("plain"))
        ));
        assert_eq!(string(&raw(r#""tab\there""#)).as_deref(), Some("tab\there"));
        assert_eq!(string(&raw(r#""\"""#)).as_deref(), Some("\""));
        assert_eq!(string(&raw("12")), None);
        assert_eq!(string(&raw("null")), None);
    }
}
