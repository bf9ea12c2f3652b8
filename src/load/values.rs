//! The pieces of a generated event that fits a route: a concrete string a glob matches, a JSON value of a
//! column's PostgreSQL type, and placing a value at a JSON pointer.
//!
//! Every value is made to pass the example schemas by construction: numbers are positive, uuids are v4,
//! times are RFC 3339 and dates `YYYY-MM-DD`.

use fastrand::Rng;
use pacer_pipeline::{ColumnType, ScalarType};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Words a `*` in a `type` glob becomes, tried in turn when an earlier route would take the first.
pub(super) const TYPE_WORDS: [&str; 4] = ["created", "updated", "changed", "v1"];

/// Words a `*` in a `source` glob becomes.
pub(super) const SOURCE_WORDS: [&str; 4] = ["web", "app", "eu-1", "batch"];

/// Short words for text values.
const WORDS: [&str; 8] = [
    "red", "green", "blue", "small", "large", "gift", "express", "standard",
];

/// Characters tried for a negated class `[!...]`, in order.
const SPARE_CHARS: &str = "xyzqabc0123456789-_.";

/// A string `glob` matches: `*` becomes `word`, `?` becomes `x`, `[abc]` its first character and
/// `[!abc]` a character not in it. `glob` is a pattern the pipeline accepted, so its classes are closed.
pub(super) fn concretise(glob: &str, word: &str) -> String {
    let chars: Vec<char> = glob.chars().collect();
    let mut out = String::with_capacity(glob.len() + word.len());
    let mut at = 0;
    while let Some(&c) = chars.get(at) {
        match c {
            '*' => {
                while chars.get(at + 1) == Some(&'*') {
                    at += 1;
                }
                out.push_str(word);
            }
            '?' => out.push('x'),
            '[' => match class(&chars, at) {
                Some((pick, end)) => {
                    out.push(pick);
                    at = end;
                }
                None => out.push(c),
            },
            c => out.push(c),
        }
        at += 1;
    }
    out
}

/// The character chosen for the class opening at `open`, and the index of its closing `]`. As in the
/// `glob` crate, a `]` right after `[` or `[!` is a member, and `a-z` is a range.
fn class(chars: &[char], open: usize) -> Option<(char, usize)> {
    let mut at = open + 1;
    let negated = chars.get(at) == Some(&'!');
    if negated {
        at += 1;
    }
    let first = at;
    let mut ranges: Vec<(char, char)> = Vec::new();
    loop {
        let c = *chars.get(at)?;
        if c == ']' && at > first {
            break;
        }
        match (chars.get(at + 1), chars.get(at + 2)) {
            (Some('-'), Some(&end)) if end != ']' => {
                ranges.push((c, end));
                at += 3;
            }
            _ => {
                ranges.push((c, c));
                at += 1;
            }
        }
    }
    let inside = |c: char| ranges.iter().any(|&(low, high)| low <= c && c <= high);
    let pick = if negated {
        SPARE_CHARS.chars().find(|&c| !inside(c)).unwrap_or('x')
    } else {
        ranges.first().map_or('x', |&(low, _)| low)
    };
    Some((pick, at))
}

/// A value of `column_type`: one scalar, or one to three of them for an array.
pub(super) fn value(column_type: ColumnType, rng: &mut Rng, time: OffsetDateTime) -> Value {
    match column_type {
        ColumnType::Scalar(scalar) => scalar_value(scalar, rng, time),
        ColumnType::Array(scalar) => {
            let count = rng.usize(1..=3);
            Value::Array(
                (0..count)
                    .map(|_| scalar_value(scalar, rng, time))
                    .collect(),
            )
        }
    }
}

/// A value of `scalar`. Times and dates are `time`'s, so a route's time columns all say when the event
/// happened and grow with it.
pub(super) fn scalar_value(scalar: ScalarType, rng: &mut Rng, time: OffsetDateTime) -> Value {
    match scalar {
        ScalarType::Text => Value::from(word(rng)),
        ScalarType::Integer => Value::from(rng.u32(1..10_000)),
        ScalarType::BigInt => Value::from(rng.u64(1..1_000_000_000)),
        // Whole cents, so the number is exact in the JSON text: 0.01 to 999.99.
        ScalarType::Numeric => Value::from(f64::from(rng.u32(1..100_000)) / 100.0),
        ScalarType::DoublePrecision => Value::from(rng.f64() * 100.0 + 0.5),
        ScalarType::Boolean => Value::from(rng.bool()),
        ScalarType::Timestamptz => Value::from(rfc3339(time)),
        ScalarType::Date => Value::from(date(time)),
        ScalarType::Uuid => Value::from(uuid(rng)),
        ScalarType::Jsonb => json!({ "label": word(rng), "count": rng.u32(1..100) }),
    }
}

/// The value of a route's `order` column: it grows with `time`, so a later event wins its key.
pub(super) fn order_value(column_type: ColumnType, rng: &mut Rng, time: OffsetDateTime) -> Value {
    let micros = i64::try_from(time.unix_timestamp_nanos() / 1_000).unwrap_or(i64::MAX);
    match column_type {
        ColumnType::Scalar(ScalarType::Integer) => {
            Value::from(i32::try_from(time.unix_timestamp()).unwrap_or(i32::MAX))
        }
        ColumnType::Scalar(ScalarType::BigInt | ScalarType::Numeric) => Value::from(micros),
        ColumnType::Scalar(ScalarType::DoublePrecision) => Value::from(micros as f64 / 1e6),
        // UTC RFC 3339 text sorts as time does.
        ColumnType::Scalar(ScalarType::Text) => Value::from(rfc3339(time)),
        other => value(other, rng, time),
    }
}

/// The value of a key column for key `slot` of a small pool: the same slot gives the same value for every
/// route writing `table`, so an upsert replaces rows and a delete finds them.
pub(super) fn pooled_value(
    table: &str,
    column: &str,
    column_type: ColumnType,
    slot: usize,
) -> Value {
    let mut rng = Rng::with_seed(seed(&[
        table.as_bytes(),
        column.as_bytes(),
        &slot.to_le_bytes(),
    ]));
    let one = |rng: &mut Rng, scalar: ScalarType| match scalar {
        ScalarType::Text => Value::from(format!("{column}-{slot}")),
        ScalarType::Integer | ScalarType::BigInt => Value::from(slot + 1),
        ScalarType::Uuid => Value::from(uuid(rng)),
        // A fixed instant per slot: a time key must not move with the event.
        ScalarType::Timestamptz | ScalarType::Date => {
            let at = OffsetDateTime::UNIX_EPOCH + time::Duration::days(19_000 + slot as i64);
            scalar_value(scalar, rng, at)
        }
        other => scalar_value(other, rng, OffsetDateTime::UNIX_EPOCH),
    };
    match column_type {
        ColumnType::Scalar(scalar) => one(&mut rng, scalar),
        ColumnType::Array(scalar) => Value::Array(vec![one(&mut rng, scalar)]),
    }
}

/// A value an extension attribute can hold (a string, integer or boolean), of `column_type`'s spelling.
pub(super) fn attribute_value(
    column_type: ColumnType,
    rng: &mut Rng,
    time: OffsetDateTime,
) -> Value {
    match value(column_type, rng, time) {
        value @ (Value::String(_) | Value::Bool(_)) => value,
        Value::Number(number) if number.is_i64() || number.is_u64() => Value::Number(number),
        other => Value::from(other.to_string()),
    }
}

/// Puts `value` at `tokens` under `root`, making the objects on the way. An object meets an object by
/// merging (what is there stays); a scalar does not replace an object that deeper pointers built.
pub(super) fn place(root: &mut Map<String, Value>, tokens: &[String], value: Value) {
    let Some((last, path)) = tokens.split_last() else {
        return;
    };
    let mut at = root;
    for token in path {
        let slot = at
            .entry(token.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else {
            return;
        };
        at = next;
    }
    match (at.get_mut(last), value) {
        (Some(Value::Object(there)), Value::Object(new)) => {
            for (key, value) in new {
                there.entry(key).or_insert(value);
            }
        }
        (Some(Value::Object(_)), _) => {}
        (_, value) => {
            at.insert(last.clone(), value);
        }
    }
}

/// A version 4 (random) uuid in its hyphenated form.
pub(super) fn uuid(rng: &mut Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// `time` in RFC 3339, in UTC.
pub(super) fn rfc3339(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        // Only a year outside 0000-9999 fails, which the load's clock does not reach.
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// `time`'s UTC date, `YYYY-MM-DD`.
fn date(time: OffsetDateTime) -> String {
    let utc = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}",
        utc.year(),
        u8::from(utc.month()),
        utc.day()
    )
}

fn word(rng: &mut Rng) -> &'static str {
    WORDS[rng.usize(..WORDS.len())]
}

/// A 64-bit FNV-1a hash of `parts`: a seed that is the same on every run and machine.
pub(super) fn seed(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use pacer_pipeline::Glob;

    fn glob(text: &str) -> Glob {
        match Glob::new(text) {
            Ok(glob) => glob,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn concrete_strings_match_their_globs() {
        for (pattern, want) in [
            ("shop.order.*", "shop.order.created"),
            ("shop.*.v?", "shop.created.vx"),
            ("/shop/**", "/shop/created"),
            ("/shop/[eu]*", "/shop/ecreated"),
            ("[a-c]x", "ax"),
            ("[!x-z]1", "q1"),
            ("[]]a", "]a"),
            ("[!]x]", "y"),
            ("plain", "plain"),
        ] {
            let text = concretise(pattern, "created");
            assert_eq!(text, want, "{pattern}");
            assert!(glob(pattern).matches(&text), "{pattern} -> {text}");
        }
    }

    #[test]
    fn values_have_their_types_shape() {
        let mut rng = Rng::with_seed(7);
        let time = OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
        let id = uuid(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes().get(14), Some(&b'4'), "{id}");
        assert_eq!(rfc3339(time), "2024-10-04T00:00:00Z");
        assert_eq!(date(time), "2024-10-04");
        for _ in 0..100 {
            let number = scalar_value(ScalarType::Numeric, &mut rng, time);
            assert!(number.as_f64().is_some_and(|n| n > 0.0), "{number}");
            let items = value(ColumnType::Array(ScalarType::Text), &mut rng, time);
            assert!(items.as_array().is_some_and(|a| (1..=3).contains(&a.len())));
        }
        let order = order_value(ColumnType::Scalar(ScalarType::BigInt), &mut rng, time);
        assert_eq!(order, Value::from(20_000_i64 * 86_400 * 1_000_000));
    }

    #[test]
    fn pooled_keys_repeat_per_table_column_and_slot() {
        let uuid_type = ColumnType::Scalar(ScalarType::Uuid);
        let a = pooled_value("shop.customers", "customer_id", uuid_type, 3);
        assert_eq!(
            a,
            pooled_value("shop.customers", "customer_id", uuid_type, 3)
        );
        assert_ne!(
            a,
            pooled_value("shop.customers", "customer_id", uuid_type, 4)
        );
        assert_ne!(a, pooled_value("shop.orders", "customer_id", uuid_type, 3));
    }

    #[test]
    fn values_nest_and_merge_at_their_pointers() {
        let mut root = Map::new();
        let tokens = |text: &str| -> Vec<String> { text.split('/').map(str::to_owned).collect() };
        place(&mut root, &tokens("order/id"), Value::from("a"));
        place(
            &mut root,
            &tokens("order"),
            json!({ "note": "b", "id": "c" }),
        );
        place(&mut root, &tokens("a~b"), Value::from(1));
        assert_eq!(
            Value::Object(root),
            json!({ "order": { "id": "a", "note": "b" }, "a~b": 1 })
        );
    }
}
