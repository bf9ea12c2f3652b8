//! From a value of the event to the text PostgreSQL's `COPY` takes for a column of the declared type, or
//! what was expected instead. Nothing is coerced that could lose meaning: an object never becomes `text`, a
//! fraction never an `integer`, and a string is a number only when it spells one.

use pacer_pipeline::{ColumnType, ScalarType};
use serde_json::Value as Json;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt::Write as _;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime};

/// A value found in the event or the record, before conversion.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Found<'a> {
    /// A JSON value (an extension attribute).
    Json(&'a Json),
    /// A JSON value as the text it arrived as (from `data`).
    Raw(&'a RawValue),
    /// A string attribute (`id`, `source`, `type`, …) or record fact (the topic).
    Text(&'a str),
    /// A number fact (partition, offset).
    Int(i64),
    /// A time attribute or fact (`time`, `ingested_at`, `processed_at`).
    Time(OffsetDateTime),
    /// Nothing there.
    Missing,
}

impl<'a> Found<'a> {
    /// Whether there is no value: absent, or JSON `null`.
    pub(crate) fn is_null(&self) -> bool {
        match self {
            Self::Missing | Self::Json(Json::Null) => true,
            Self::Raw(raw) => raw.get() == "null",
            _ => false,
        }
    }

    /// The value if it is a string.
    fn as_str(&self) -> Option<&'a str> {
        match *self {
            Self::Json(Json::String(s)) => Some(s),
            Self::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a short text for a dead letter's reason: JSON, cut after 64 characters.
    pub(crate) fn quoted(&self) -> String {
        let full = match self {
            Self::Json(json) => json.to_string(),
            Self::Raw(raw) => raw.get().to_owned(),
            Self::Text(text) => Json::String((*text).to_owned()).to_string(),
            Self::Int(n) => n.to_string(),
            Self::Time(t) => t.format(&Rfc3339).unwrap_or_default(),
            Self::Missing => "nothing".to_owned(),
        };
        match full.char_indices().nth(64) {
            Some((cut, _)) => format!("{}…", &full[..cut]),
            None => full,
        }
    }
}

/// Appends `found` to `out` in PostgreSQL's input form for `ty`; on failure, what was expected.
pub(crate) fn to_text(ty: ColumnType, found: Found<'_>, out: &mut String) -> Result<(), String> {
    if let Found::Raw(raw) = found {
        return raw_text(ty, raw, out);
    }
    match ty {
        ColumnType::Scalar(scalar) => scalar_text(scalar, found, out).map_err(str::to_owned),
        ColumnType::Array(scalar) => {
            let Found::Json(Json::Array(items)) = found else {
                return Err(format!("a JSON array of {}", scalar.sql_name()));
            };
            out.push('{');
            let mut element = String::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if item.is_null() {
                    out.push_str("NULL");
                    continue;
                }
                element.clear();
                scalar_text(scalar, Found::Json(item), &mut element)
                    .map_err(|expected| format!("element {i}: {expected}"))?;
                // Every element quoted: then only `"` and `\` need escaping, whatever the element holds.
                out.push('"');
                for c in element.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            out.push('}');
            Ok(())
        }
    }
}

/// A value of `data` as its text: a `jsonb` column takes the text as it is and a `numeric` one a number as
/// it is, a string without escapes is read in place, and anything else is parsed (a small value: one
/// member of `data`) and converted as JSON.
fn raw_text(ty: ColumnType, raw: &RawValue, out: &mut String) -> Result<(), String> {
    let text = raw.get();
    let number = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
    // A JSON number is valid `numeric` input as it is, with every digit it has.
    if ty == ColumnType::Scalar(ScalarType::Jsonb)
        || (number && ty == ColumnType::Scalar(ScalarType::Numeric))
    {
        out.push_str(text);
        return Ok(());
    }
    if let Some(Cow::Borrowed(plain)) = pacer_event::json_string(raw) {
        return to_text(ty, Found::Text(plain), out);
    }
    match serde_json::from_str::<Json>(text) {
        Ok(value) => to_text(ty, Found::Json(&value), out),
        // Valid JSON that a JSON value cannot hold: a number beyond the range of f64.
        Err(_) => to_text(ty, Found::Missing, out),
    }
}

fn scalar_text(ty: ScalarType, found: Found<'_>, out: &mut String) -> Result<(), &'static str> {
    match ty {
        ScalarType::Text => text(found, out),
        ScalarType::Integer => integer(found, out, i64::from(i32::MIN), i64::from(i32::MAX))
            .ok_or("an integer from -2147483648 to 2147483647"),
        ScalarType::BigInt => {
            integer(found, out, i64::MIN, i64::MAX).ok_or("an integer that fits in 64 bits")
        }
        ScalarType::Numeric => {
            numeric(found, out).ok_or("a number, or a string of a decimal number")
        }
        ScalarType::DoublePrecision => {
            double(found, out).ok_or("a number, or a string of a number")
        }
        ScalarType::Boolean => match found {
            Found::Json(Json::Bool(b)) => {
                out.push(if *b { 't' } else { 'f' });
                Ok(())
            }
            _ => Err("true or false"),
        },
        ScalarType::Timestamptz => timestamp(found, out)
            .ok_or("an RFC 3339 timestamp with an offset, such as 2026-12-01T10:00:00Z"),
        ScalarType::Date => date(found, out).ok_or("a date such as 2026-12-01"),
        ScalarType::Uuid => {
            uuid(found, out).ok_or("a UUID such as 7d444840-9dc0-11d1-b245-5ffdce74fad2")
        }
        ScalarType::Jsonb => {
            match found {
                Found::Json(json) => out.push_str(&json.to_string()),
                Found::Raw(raw) => out.push_str(raw.get()),
                Found::Text(text) => out.push_str(&Json::String(text.to_owned()).to_string()),
                Found::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Found::Time(t) => {
                    let text = t
                        .format(&Rfc3339)
                        .map_err(|_| "a time from year 0 to 9999")?;
                    out.push_str(&Json::String(text).to_string());
                }
                Found::Missing => return Err("a value"),
            }
            Ok(())
        }
    }
}

fn text(found: Found<'_>, out: &mut String) -> Result<(), &'static str> {
    if found.as_str().is_some_and(|s| s.contains('\0')) {
        return Err("text without NUL characters (PostgreSQL text cannot store them)");
    }
    match found {
        Found::Json(Json::String(s)) => out.push_str(s),
        Found::Text(s) => out.push_str(s),
        Found::Json(Json::Number(n)) => {
            let _ = write!(out, "{n}");
        }
        Found::Json(Json::Bool(b)) => out.push_str(if *b { "true" } else { "false" }),
        Found::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Found::Time(t) => out.push_str(
            &t.format(&Rfc3339)
                .map_err(|_| "a time from year 0 to 9999")?,
        ),
        Found::Json(_) | Found::Raw(_) | Found::Missing => {
            return Err(
                "a string, number or boolean (declare the column jsonb for objects and arrays)",
            );
        }
    }
    Ok(())
}

fn integer(found: Found<'_>, out: &mut String, min: i64, max: i64) -> Option<()> {
    let n = match found {
        Found::Json(Json::Number(n)) => n.as_i64()?,
        Found::Int(n) => n,
        _ if found.as_str().is_some() => found.as_str()?.parse().ok()?,
        _ => return None,
    };
    (min..=max).contains(&n).then(|| {
        let _ = write!(out, "{n}");
    })
}

fn numeric(found: Found<'_>, out: &mut String) -> Option<()> {
    match found {
        Found::Json(Json::Number(n)) => {
            let _ = write!(out, "{n}");
        }
        _ if found.as_str().is_some_and(is_decimal) => out.push_str(found.as_str()?),
        Found::Int(n) => {
            let _ = write!(out, "{n}");
        }
        _ => return None,
    }
    Some(())
}

/// `-12`, `3.25`, `.5`, `1e-3`: what PostgreSQL's `numeric` input takes (not `NaN` or `Infinity`, which a
/// JSON number cannot be either).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(at) => (&s[..at], Some(&s[at + 1..])),
        None => (s, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        !(whole.is_empty() && fraction.is_empty()) && digits(whole) && digits(fraction);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn double(found: Found<'_>, out: &mut String) -> Option<()> {
    let x: f64 = match found {
        Found::Json(Json::Number(n)) => n.as_f64()?,
        Found::Int(n) => n as f64,
        _ if found.as_str().is_some() => found.as_str()?.parse().ok()?,
        _ => return None,
    };
    if x.is_nan() {
        out.push_str("NaN");
    } else if x.is_infinite() {
        out.push_str(if x > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{x:?}");
    }
    Some(())
}

fn timestamp(found: Found<'_>, out: &mut String) -> Option<()> {
    let t = match found {
        Found::Time(t) => t,
        _ if found.as_str().is_some() => OffsetDateTime::parse(found.as_str()?, &Rfc3339).ok()?,
        _ => return None,
    };
    // In UTC: RFC 3339 allows offsets beyond the ±15:59 PostgreSQL takes.
    crate::copy::rfc3339_utc(t, out)
}

fn date(found: Found<'_>, out: &mut String) -> Option<()> {
    let iso = format_description!("[year]-[month]-[day]");
    let date = match found {
        Found::Time(t) => t.date(),
        _ if found.as_str().is_some() => Date::parse(found.as_str()?, iso).ok()?,
        _ => return None,
    };
    out.push_str(&date.format(iso).ok()?);
    Some(())
}

fn uuid(found: Found<'_>, out: &mut String) -> Option<()> {
    let uuid = uuid::Uuid::try_parse(found.as_str()?).ok()?;
    let _ = write!(out, "{}", uuid.hyphenated());
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(ty: &str, value: Json) -> Result<String, String> {
        let mut out = String::new();
        to_text(ty.parse().unwrap(), Found::Json(&value), &mut out).map(|()| out)
    }

    #[test]
    fn scalars_take_what_spells_their_type() {
        assert_eq!(convert("text", json!("a\tb")).unwrap(), "a\tb");
        assert_eq!(convert("text", json!(12.5)).unwrap(), "12.5");
        assert!(
            convert("text", json!({"a": 1}))
                .unwrap_err()
                .contains("jsonb")
        );
        assert_eq!(convert("integer", json!(-7)).unwrap(), "-7");
        assert_eq!(convert("integer", json!("42")).unwrap(), "42");
        assert!(convert("integer", json!(3.5)).is_err());
        assert!(convert("integer", json!(4_000_000_000_i64)).is_err());
        assert_eq!(
            convert("bigint", json!(4_000_000_000_i64)).unwrap(),
            "4000000000"
        );
        assert_eq!(convert("numeric", json!(12.34)).unwrap(), "12.34");
        assert_eq!(
            convert("numeric", json!("123456789012345678901.5")).unwrap(),
            "123456789012345678901.5"
        );
        assert!(convert("numeric", json!("12,5")).is_err());
        assert!(convert("numeric", json!("e5")).is_err());
        assert_eq!(convert("double precision", json!(0.1)).unwrap(), "0.1");
        assert_eq!(convert("boolean", json!(true)).unwrap(), "t");
        assert!(convert("boolean", json!("true")).is_err());
        assert_eq!(
            convert("timestamptz", json!("2026-12-01T10:00:00+02:00")).unwrap(),
            "2026-12-01T08:00:00Z"
        );
        assert!(convert("timestamptz", json!("2026-12-01 10:00")).is_err());
        assert_eq!(convert("date", json!("2026-02-28")).unwrap(), "2026-02-28");
        assert!(convert("date", json!("2026-02-30")).is_err());
        assert_eq!(
            convert("uuid", json!("7D444840-9DC0-11D1-B245-5FFDCE74FAD2")).unwrap(),
            "7d444840-9dc0-11d1-b245-5ffdce74fad2"
        );
        assert!(convert("uuid", json!("not-a-uuid")).is_err());
        assert_eq!(
            convert("jsonb", json!({"a": [1, "x"]})).unwrap(),
            r#"{"a":[1,"x"]}"#
        );
    }

    fn convert_raw(ty: &str, text: &str) -> Result<String, String> {
        let raw = RawValue::from_string(text.to_owned()).unwrap();
        let mut out = String::new();
        to_text(ty.parse().unwrap(), Found::Raw(&raw), &mut out).map(|()| out)
    }

    #[test]
    fn values_of_data_convert_from_their_text() {
        assert_eq!(
            convert_raw("jsonb", r#"{ "b": 1, "a": [1.50] }"#).unwrap(),
            r#"{ "b": 1, "a": [1.50] }"#
        );
        assert_eq!(
            convert_raw("numeric", "123456789012345678901234567890.5").unwrap(),
            "123456789012345678901234567890.5"
        );
        assert_eq!(convert_raw("numeric", "1e400").unwrap(), "1e400");
        assert_eq!(convert_raw("text", r#""a\tb\u00e9""#).unwrap(), "a\tbé");
        assert_eq!(convert_raw("text", r#""plain""#).unwrap(), "plain");
        assert_eq!(convert_raw("text", "12.50").unwrap(), "12.5");
        assert_eq!(convert_raw("boolean", "true").unwrap(), "t");
        assert!(convert_raw("boolean", r#""true""#).is_err());
        assert_eq!(
            convert_raw("text[]", r#"["a", "b"]"#).unwrap(),
            r#"{"a","b"}"#
        );
        // Beyond what a JSON value holds, and not numeric: refused, not nulled.
        assert!(convert_raw("bigint", "1e400").is_err());
        let null = RawValue::from_string("null".to_owned()).unwrap();
        assert!(Found::Raw(&null).is_null());
    }

    #[test]
    fn arrays_quote_every_element() {
        assert_eq!(
            convert("text[]", json!(["a", "b\"c", null, "d\\e"])).unwrap(),
            r#"{"a","b\"c",NULL,"d\\e"}"#
        );
        assert_eq!(convert("integer[]", json!([1, 2])).unwrap(), r#"{"1","2"}"#);
        let error = convert("integer[]", json!([1, "x"])).unwrap_err();
        assert!(error.starts_with("element 1: an integer"), "{error}");
        assert!(
            convert("text[]", json!("a"))
                .unwrap_err()
                .contains("JSON array of text")
        );
    }

    #[test]
    fn quoted_values_are_cut() {
        let long = Json::String("x".repeat(100));
        let quoted = Found::Json(&long).quoted();
        assert_eq!(quoted.chars().count(), 65);
        assert!(quoted.ends_with('…'));
        assert_eq!(Found::Text("ab").quoted(), "\"ab\"");
    }
}
