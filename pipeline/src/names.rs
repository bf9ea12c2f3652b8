//! Spelling rules for names the file gives: route names, PostgreSQL identifiers and tables, Kafka topics.

use crate::route::Table;

/// PostgreSQL truncates longer identifiers (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;
/// Kafka refuses longer topic names.
const MAX_TOPIC: usize = 249;

/// Whether `name` is lowercase letters, digits and `_`, at most [`MAX_IDENTIFIER`] bytes, its first
/// character passing `first`.
fn lowercase_name(name: &str, first: impl Fn(char) -> bool) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(first)
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= MAX_IDENTIFIER
}

pub(crate) fn check_route_name(name: &str) -> Result<(), String> {
    if lowercase_name(name, |c| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a route name; expected [a-z][a-z0-9_]*, at most {MAX_IDENTIFIER} characters"
        ))
    }
}

pub(crate) fn check_identifier(name: &str) -> Result<(), String> {
    if lowercase_name(name, |c| c.is_ascii_lowercase() || c == '_') {
        Ok(())
    } else {
        Err(format!(
            "\"{name}\" is not a lowercase PostgreSQL identifier; expected [a-z_][a-z0-9_]*, at most {MAX_IDENTIFIER} bytes"
        ))
    }
}

pub(crate) fn parse_table(text: &str) -> Result<Table, String> {
    let parts: Vec<&str> = text.split('.').collect();
    match parts.as_slice() {
        [name] => check_identifier(name).map(|()| Table {
            schema: None,
            name: (*name).to_owned(),
        }),
        [schema, name] => {
            check_identifier(schema)?;
            check_identifier(name)?;
            Ok(Table {
                schema: Some((*schema).to_owned()),
                name: (*name).to_owned(),
            })
        }
        _ => Err(format!(
            "\"{text}\" has more than one dot; expected \"table\" or \"schema.table\""
        )),
    }
}

pub(crate) fn check_topic(topic: &str) -> Result<(), String> {
    let ok = !topic.is_empty()
        && topic.len() <= MAX_TOPIC
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "\"{topic}\" is not a Kafka topic name; expected [A-Za-z0-9._-], 1 to {MAX_TOPIC} characters"
        ))
    }
}
