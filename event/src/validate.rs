//! The CloudEvents 1.0 attribute rules, applied to one JSON object.

use crate::error::{EventError, Problem};
use crate::event::CloudEvent;
use crate::object::{RawObject, string};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Checks every attribute of `object` and builds the event. `default_time` fills a missing `time`.
pub(crate) fn validate(
    mut object: RawObject<'_>,
    default_time: OffsetDateTime,
) -> Result<CloudEvent, EventError> {
    let specversion = required_string(&mut object, "specversion")?;
    if specversion != CloudEvent::SPEC_VERSION {
        return Err(invalid(
            "specversion",
            format!("must be \"1.0\", got {specversion:?}"),
        ));
    }
    let id = required_string(&mut object, "id")?;
    let source = required_string(&mut object, "source")?;
    for (name, value) in [("id", &id), ("source", &source)] {
        if value.len() > MAX_KEY_BYTES {
            return Err(invalid(
                name,
                format!(
                    "is {} bytes long; at most {MAX_KEY_BYTES} are accepted",
                    value.len()
                ),
            ));
        }
    }
    let ty = required_string(&mut object, "type")?;
    let time = match optional_string(&mut object, "time")? {
        Some(text) => {
            let time = OffsetDateTime::parse(&text, &Rfc3339)
                .map_err(|e| invalid("time", format!("must be an RFC 3339 timestamp ({e})")))?;
            // RFC 3339 allows year 0000, which PostgreSQL does not; and a time near the ends of the range can
            // fall outside it once moved to UTC.
            match time.checked_to_offset(time::UtcOffset::UTC) {
                Some(utc) if utc.year() >= 1 => time,
                _ => {
                    return Err(invalid(
                        "time",
                        "must be within the years 0001 to 9999 in UTC".into(),
                    ));
                }
            }
        }
        None => default_time,
    };
    let subject = optional_string(&mut object, "subject")?;
    let datacontenttype = optional_string(&mut object, "datacontenttype")?;
    let dataschema = optional_string(&mut object, "dataschema")?;
    if dataschema.as_deref() == Some("") {
        return Err(invalid("dataschema", "must not be empty".into()));
    }
    let data = object
        .take("data")
        .filter(|raw| raw.get() != "null")
        .map(ToOwned::to_owned);
    if let Some(raw) = &data {
        check_shape(raw.get())?;
        check_escapes(raw.get())?;
    }
    let data_base64 = optional_string(&mut object, "data_base64")?;
    if data.is_some() && data_base64.is_some() {
        return Err(invalid(
            "data_base64",
            "cannot be given together with `data`".into(),
        ));
    }
    if let Some(b64) = &data_base64
        && !b64
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n'))
    {
        return Err(invalid("data_base64", "must be base64 text".into()));
    }

    let mut extensions = BTreeMap::new();
    for (name, raw) in object.into_sorted() {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(
                &name,
                "is not a valid attribute name (lower-case ASCII letters and digits)".into(),
            ));
        }
        let value = match string(raw) {
            Some(text) => serde_json::Value::String(text.into_owned()),
            None => serde_json::from_str(raw.get())
                .map_err(|_| wrong_type(&name, "a string, integer or boolean"))?,
        };
        match &value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => check_text(&name, s)?,
            serde_json::Value::Bool(_) => {}
            serde_json::Value::Number(n) if n.is_i64() => {}
            _ => return Err(wrong_type(&name, "a string, integer or boolean")),
        }
        extensions.insert(name.into_owned(), value);
    }
    if name_is_string_or_absent(&extensions, "partitionkey") {
        Ok(CloudEvent {
            id,
            source,
            ty,
            time,
            subject,
            datacontenttype,
            dataschema,
            data,
            data_base64,
            extensions,
        })
    } else {
        Err(wrong_type("partitionkey", "a string"))
    }
}

fn name_is_string_or_absent(extensions: &BTreeMap<String, serde_json::Value>, name: &str) -> bool {
    !matches!(extensions.get(name), Some(v) if !v.is_string())
}

/// The longest `id` and `source` accepted, in bytes: together they are the primary key of `events`, and a
/// B-tree entry of PostgreSQL holds at most about 2.7 kB.
pub const MAX_KEY_BYTES: usize = 1024;

fn required_string(object: &mut RawObject<'_>, name: &'static str) -> Result<String, EventError> {
    let value = optional_string(object, name)?
        .ok_or(EventError::new(Problem::Missing { attribute: name }))?;
    if value.is_empty() {
        return Err(invalid(name, "must not be empty".into()));
    }
    Ok(value)
}

fn optional_string(
    object: &mut RawObject<'_>,
    name: &'static str,
) -> Result<Option<String>, EventError> {
    let Some(raw) = object.take(name) else {
        return Ok(None);
    };
    if raw.get() == "null" {
        return Ok(None);
    }
    let value = string(raw).ok_or_else(|| wrong_type(name, "a string"))?;
    check_text(name, &value)?;
    Ok(Some(value.into_owned()))
}

fn check_text(name: &str, value: &str) -> Result<(), EventError> {
    if value.contains('\0') {
        return Err(invalid(
            name,
            "holds a NUL character, which PostgreSQL cannot store".into(),
        ));
    }
    Ok(())
}

/// The deepest nesting of arrays and objects accepted in `data`. It bounds the work and stack that one event
/// can cost, here and in PostgreSQL, and stays below serde_json's own recursion limit (128).
pub const MAX_DATA_DEPTH: usize = 100;

/// The most digits, and the largest exponent magnitude, of a number in `data`. `jsonb` stores numbers as
/// `numeric`, which refuses far larger ones (`1e200000` overflows it) that JSON itself allows.
pub const MAX_NUMBER_DIGITS: usize = 1000;

/// Refuses `data` nested deeper than [`MAX_DATA_DEPTH`] or holding a number beyond [`MAX_NUMBER_DIGITS`].
/// The text is well-formed JSON already; this walks it once, outside strings.
fn check_shape(json: &str) -> Result<(), EventError> {
    let bytes = json.as_bytes();
    let (mut depth, mut i) = (0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                // To the closing quote, over escapes.
                loop {
                    match memchr::memchr2(b'"', b'\\', bytes.get(i..).unwrap_or_default()) {
                        Some(at) if bytes[i + at] == b'\\' => i += at + 2,
                        Some(at) => break i += at,
                        None => break i = bytes.len(),
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DATA_DEPTH {
                    return Err(invalid(
                        "data",
                        format!("is nested deeper than {MAX_DATA_DEPTH} levels"),
                    ));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                check_number(&json[start..i])?;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

fn check_number(number: &str) -> Result<(), EventError> {
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => (&number[..at], &number[at + 1..]),
        None => (number, ""),
    };
    let digits = mantissa.bytes().filter(u8::is_ascii_digit).count();
    let exponent_digits = exponent
        .trim_start_matches(['+', '-'])
        .trim_start_matches('0');
    let exponent_too_large = exponent_digits.len() > 4
        || exponent_digits
            .parse::<usize>()
            .is_ok_and(|e| e > MAX_NUMBER_DIGITS);
    if digits > MAX_NUMBER_DIGITS || exponent_too_large {
        let shown: String = number.chars().take(24).collect();
        return Err(invalid(
            "data",
            format!(
                "holds a number PostgreSQL cannot store ({shown}...): at most {MAX_NUMBER_DIGITS} digits and exponents up to ±{MAX_NUMBER_DIGITS}"
            ),
        ));
    }
    Ok(())
}

/// `jsonb` refuses strings holding NUL or a lone UTF-16 surrogate, both of which are well-formed JSON escapes.
/// Such data would fail the worker's batch forever, so it is refused here. Only text with escapes can hold them.
fn check_escapes(json: &str) -> Result<(), EventError> {
    if !json.contains("\\u") {
        return Ok(());
    }
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        invalid(
            "data",
            format!("holds an escape PostgreSQL cannot store ({e})"),
        )
    })?;
    if holds_nul(&value) {
        return Err(invalid(
            "data",
            "holds a NUL character (\\u0000), which PostgreSQL cannot store".into(),
        ));
    }
    Ok(())
}

fn holds_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(holds_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn invalid(name: &str, reason: String) -> EventError {
    EventError::new(Problem::Invalid {
        attribute: name.to_owned(),
        reason,
    })
}

fn wrong_type(name: &str, expected: &'static str) -> EventError {
    EventError::new(Problem::WrongType {
        attribute: name.to_owned(),
        expected,
    })
}

#[cfg(test)]
mod tests {
    use super::check_escapes;

    #[test]
    fn nul_and_lone_surrogates_are_refused_but_an_escaped_backslash_is_not() {
        assert!(check_escapes(r#"{"a":"x\u0000"}"#).is_err());
        assert!(check_escapes(r#"{"x\u0000":1}"#).is_err());
        assert!(check_escapes(r#"["\ud800"]"#).is_err());
        assert!(check_escapes(r#"{"a":"x\\u0000"}"#).is_ok());
        assert!(check_escapes(r#"{"a":"\u00e9\ud83d\ude00"}"#).is_ok());
    }
}
