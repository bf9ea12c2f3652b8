//! The parts of an event's `data` a route's columns read, found in one pass over its JSON text.
//!
//! A route's pointers into `data` are read once into a tree of their tokens ([`DataPaths`]). For each event
//! the tree walks the raw text: an object's members that no pointer names are skipped unparsed, and what a
//! pointer names is kept as the exact text it arrived as (a [`RawValue`]). So a `jsonb` column is written
//! from the event's own text, numbers keep their digits, and no `serde_json::Value` tree is built for
//! the columns.

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The pointers into `data` of one route, by slot: each pointer has a slot, and pointers that are the same
/// share it.
#[derive(Debug, Clone, Default)]
pub(crate) struct DataPaths {
    root: Node,
    slots: usize,
}

/// One token of a pointer: the slot of the pointer that ends here, and the tokens that go on from here.
#[derive(Debug, Clone, Default)]
struct Node {
    slot: Option<usize>,
    children: Vec<(String, Node)>,
}

/// What an event's `data` holds at each slot; `None` where there is nothing.
pub(crate) type Slots<'a> = Vec<Option<&'a RawValue>>;

impl DataPaths {
    /// Adds `pointer` (a JSON pointer inside `data`, still escaped; `""` for all of it) and returns its slot.
    pub(crate) fn add(&mut self, pointer: &str) -> usize {
        let mut node = &mut self.root;
        for token in pointer.split('/').skip(1) {
            let token = token.replace("~1", "/").replace("~0", "~");
            let at = match node.children.iter().position(|(name, _)| *name == token) {
                Some(at) => at,
                None => {
                    node.children.push((token, Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].1;
        }
        *node.slot.get_or_insert_with(|| {
            self.slots += 1;
            self.slots - 1
        })
    }

    /// What `data` (the event's raw JSON text, if it has any) holds at each slot.
    pub(crate) fn find<'a>(&self, data: Option<&'a RawValue>) -> Slots<'a> {
        let mut slots = vec![None; self.slots];
        if let Some(data) = data {
            self.root.walk(data, &mut slots);
        }
        slots
    }
}

impl Node {
    fn walk<'a>(&self, value: &'a RawValue, slots: &mut Slots<'a>) {
        if let Some(slot) = self.slot {
            slots[slot] = Some(value);
        }
        if self.children.is_empty() {
            return;
        }
        // Only objects and arrays have members; a pointer into anything else finds nothing.
        let text = value.get();
        if !text.starts_with(['{', '[']) {
            return;
        }
        let mut de = serde_json::Deserializer::from_str(text);
        // The text is valid JSON (it was parsed into a RawValue), so the walk cannot fail on it.
        let _ = de.deserialize_any(Members { node: self, slots });
    }

    fn child(&self, token: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(name, _)| name == token)
            .map(|(_, node)| node)
    }

    /// The child for array element `index`: a token that is the index written without a sign or
    /// leading zeros, as JSON Pointer (RFC 6901) spells it.
    fn element(&self, index: usize) -> Option<&Node> {
        self.children
            .iter()
            .find(|(name, _)| {
                (name == "0" || !name.starts_with(['0', '+']))
                    && name.parse::<usize>().ok() == Some(index)
            })
            .map(|(_, node)| node)
    }
}

/// Visits an object's or an array's members, descending into those the node names.
struct Members<'n, 's, 'a> {
    node: &'n Node,
    slots: &'s mut Slots<'a>,
}

impl<'a> Visitor<'a> for Members<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object or array")
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            match self.node.child(&key) {
                Some(child) => child.walk(map.next_value::<&'a RawValue>()?, self.slots),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            match self.node.element(index) {
                Some(child) => match seq.next_element::<&'a RawValue>()? {
                    Some(value) => child.walk(value, self.slots),
                    None => return Ok(()),
                },
                None => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                }
            }
            index += 1;
        }
    }
}

/// An object's key, borrowed from the text unless it holds escapes.
struct Key<'a>(Cow<'a, str>);

impl<'a> de::Deserialize<'a> for Key<'a> {
    fn deserialize<D: de::Deserializer<'a>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'a> Visitor<'a> for KeyVisitor {
            type Value = Key<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'a>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// What each pointer finds in `data`, by the walk and by `serde_json`'s own `Value::pointer`.
    fn both(data: &Value, pointers: &[&str]) -> Vec<(Option<Value>, Option<Value>)> {
        let mut paths = DataPaths::default();
        let slots: Vec<usize> = pointers.iter().map(|p| paths.add(p)).collect();
        let text = serde_json::to_string_pretty(data).unwrap();
        let raw = RawValue::from_string(text).unwrap();
        let found = paths.find(Some(&raw));
        pointers
            .iter()
            .zip(slots)
            .map(|(pointer, slot)| {
                let walked = found[slot].map(|raw| serde_json::from_str(raw.get()).unwrap());
                (walked, data.pointer(pointer).cloned())
            })
            .collect()
    }

    #[test]
    fn the_walk_finds_what_value_pointer_finds() {
        let data = json!({
            "order": {"id": "o/1", "a~b": 3, "lines": [{"sku": "x"}, {"sku": "y"}]},
            "a/b": true, "": "empty key", "esc\"aped": 1, "n": null,
            "list": [10, 20, 30]
        });
        let pointers = [
            "",
            "/order",
            "/order/id",
            "/order/a~0b",
            "/a~1b",
            "/",
            "/esc\"aped",
            "/n",
            "/order/lines/1/sku",
            "/order/lines/01",
            "/order/lines/+1",
            "/list/2",
            "/list/3",
            "/missing",
            "/order/id/deeper",
            "/list/0/x",
        ];
        for (pointer, (walked, expected)) in pointers.iter().zip(both(&data, &pointers)) {
            assert_eq!(walked, expected, "{pointer}");
        }
    }

    #[test]
    fn pointers_that_are_the_same_share_a_slot_and_values_keep_their_text() {
        let mut paths = DataPaths::default();
        assert_eq!(paths.add("/a"), 0);
        assert_eq!(paths.add("/b/c"), 1);
        assert_eq!(paths.add("/a"), 0);
        let raw = RawValue::from_string(r#"{"a": 1.50e3, "b": {"c": [1, 2]}}"#.to_owned()).unwrap();
        let found = paths.find(Some(&raw));
        assert_eq!(found[0].map(RawValue::get), Some("1.50e3"));
        assert_eq!(found[1].map(RawValue::get), Some("[1, 2]"));
        assert!(paths.find(None).iter().all(Option::is_none));
    }
}
