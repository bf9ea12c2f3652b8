//! The CloudEvents 1.0 attribute rules, applied to one JSON object.

use crate::error::{EventError, Problem};
use crate::event::CloudEvent;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The raw attributes of one event, as the JSON object held them.
pub(crate) type RawObject = BTreeMap<String, Box<RawValue>>;

/// Checks every attribute of `object` and builds the event. `default_time` fills a missing `time`.
pub(crate) fn validate(
    object: RawObject,
    default_time: OffsetDateTime,
) -> Result<CloudEvent, EventError> {
    let mut object = object;
    let specversion = required_string(&mut object, "specversion")?;
    if specversion != CloudEvent::SPEC_VERSION {
        return Err(invalid(
            "specversion",
            format!("must be \"1.0\", got {specversion:?}"),
        ));
    }
    let id = required_string(&mut object, "id")?;
    let source = required_string(&mut object, "source")?;
    let ty = required_string(&mut object, "type")?;
    let time = match optional_string(&mut object, "time")? {
        Some(text) => {
            let time = OffsetDateTime::parse(&text, &Rfc3339)
                .map_err(|e| invalid("time", format!("must be an RFC 3339 timestamp ({e})")))?;
            // RFC 3339 allows year 0000, which PostgreSQL (and the proleptic calendar it uses) does not.
            if time.to_offset(time::UtcOffset::UTC).year() < 1 {
                return Err(invalid("time", "must be in the years 0001 to 9999".into()));
            }
            time
        }
        None => default_time,
    };
    let subject = optional_string(&mut object, "subject")?;
    let datacontenttype = optional_string(&mut object, "datacontenttype")?;
    let dataschema = optional_string(&mut object, "dataschema")?;
    if dataschema.as_deref() == Some("") {
        return Err(invalid("dataschema", "must not be empty".into()));
    }
    let data = object.remove("data").filter(|raw| raw.get() != "null");
    if let Some(raw) = &data {
        check_depth(raw.get())?;
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
    for (name, raw) in object {
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
        let value: serde_json::Value = serde_json::from_str(raw.get())
            .map_err(|_| wrong_type(&name, "a string, integer or boolean"))?;
        match &value {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => check_text(&name, s)?,
            serde_json::Value::Bool(_) => {}
            serde_json::Value::Number(n) if n.is_i64() => {}
            _ => return Err(wrong_type(&name, "a string, integer or boolean")),
        }
        extensions.insert(name, value);
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

fn required_string(object: &mut RawObject, name: &'static str) -> Result<String, EventError> {
    let value = optional_string(object, name)?
        .ok_or(EventError::new(Problem::Missing { attribute: name }))?;
    if value.is_empty() {
        return Err(invalid(name, "must not be empty".into()));
    }
    Ok(value)
}

fn optional_string(
    object: &mut RawObject,
    name: &'static str,
) -> Result<Option<String>, EventError> {
    let Some(raw) = object.remove(name) else {
        return Ok(None);
    };
    if raw.get() == "null" {
        return Ok(None);
    }
    let value: String =
        serde_json::from_str(raw.get()).map_err(|_| wrong_type(name, "a string"))?;
    check_text(name, &value)?;
    Ok(Some(value))
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

/// The deepest nesting of arrays and objects accepted in `data`, the same as serde_json's own limit for values.
pub const MAX_DATA_DEPTH: usize = 128;

/// Refuses `data` nested deeper than [`MAX_DATA_DEPTH`]: PostgreSQL's `jsonb` parser would fail on it.
fn check_depth(json: &str) -> Result<(), EventError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
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
            _ => {}
        }
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
