//! Which route an event takes: a route's criteria (Kafka topic, and globs on the CloudEvents `type` and
//! `source`), checked in file order.
//!
//! Globs are `glob::Pattern`s used on plain strings: `*` is any run of characters (a `/` or `.`
//! included), `?` one character, `[abc]`/`[a-z]`/`[!abc]` a class; matching is case-sensitive, as
//! CloudEvents attributes are.

use glob::{MatchOptions, Pattern};
use std::fmt;

// `/` is not special: a source like `/shop/eu/1` is one string, not a path.
const OPTIONS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: false,
    require_literal_leading_dot: false,
};

/// A checked glob pattern, kept with its text for messages and metrics.
#[derive(Debug, Clone)]
pub struct Glob {
    pattern: Pattern,
}

impl Glob {
    /// Parses `text`; the error says what is wrong with it and where.
    pub fn new(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty pattern; expected a glob such as \"shop.order.*\"".to_owned());
        }
        Pattern::new(text)
            .map(|pattern| Self { pattern })
            .map_err(|error| {
                format!(
                    "bad glob \"{text}\": {} at character {}; expected *, ? and [...] classes",
                    error.msg,
                    error.pos + 1
                )
            })
    }

    /// Whether the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.pattern.matches_with(value, OPTIONS)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        self.pattern.as_str()
    }
}

impl fmt::Display for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A route's criteria; every criterion given must hold. A matcher with none matches no event by itself
/// (only the fallback route may be like that, and it receives what no other route takes).
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    pub(crate) topic: Option<String>,
    pub(crate) event_type: Option<Glob>,
    pub(crate) source: Option<Glob>,
}

impl Matcher {
    /// The Kafka topic the route reads, or `None` for any topic.
    pub fn topic(&self) -> Option<&str> {
        self.topic.as_deref()
    }

    /// The glob on the CloudEvents `type`, if any.
    pub fn event_type(&self) -> Option<&Glob> {
        self.event_type.as_ref()
    }

    /// The glob on the CloudEvents `source`, if any.
    pub fn source(&self) -> Option<&Glob> {
        self.source.as_ref()
    }

    /// Whether no criterion is set.
    pub fn is_empty(&self) -> bool {
        self.topic.is_none() && self.event_type.is_none() && self.source.is_none()
    }

    /// Whether an event read from `topic` with these attributes meets every criterion (and there is one).
    pub fn matches(&self, topic: &str, event_type: &str, source: &str) -> bool {
        !self.is_empty()
            && self.topic.as_deref().is_none_or(|want| want == topic)
            && self
                .event_type
                .as_ref()
                .is_none_or(|glob| glob.matches(event_type))
            && self.source.as_ref().is_none_or(|glob| glob.matches(source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(text: &str) -> Glob {
        match Glob::new(text) {
            Ok(glob) => glob,
            Err(error) => panic!("{error}"),
        }
    }

    #[test]
    fn globs_match_whole_strings() {
        assert!(glob("shop.order.*").matches("shop.order.created"));
        assert!(glob("shop.order.*").matches("shop.order.a.b"));
        assert!(!glob("shop.order.*").matches("shop.orders"));
        assert!(!glob("shop.order.*").matches("xshop.order.created"));
        assert!(glob("/shop/*").matches("/shop/eu/1"));
        assert!(glob("v?").matches("v2"));
        assert!(!glob("v?").matches("v10"));
        assert!(glob("[a-c]x").matches("bx"));
        assert!(!glob("[!a-c]x").matches("bx"));
        assert!(!glob("Shop.*").matches("shop.x"), "case-sensitive");
    }

    #[test]
    fn bad_globs_are_refused_with_a_reason() {
        let error = Glob::new("shop.[order").err().unwrap_or_default();
        assert!(error.starts_with("bad glob \"shop.[order\": "), "{error}");
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn every_criterion_must_hold_and_none_matches_nothing() {
        let matcher = Matcher {
            topic: Some("events".into()),
            event_type: Some(glob("shop.*")),
            source: None,
        };
        assert!(matcher.matches("events", "shop.x", "/any"));
        assert!(!matcher.matches("other", "shop.x", "/any"));
        assert!(!matcher.matches("events", "bank.x", "/any"));
        assert!(!Matcher::default().matches("events", "shop.x", "/any"));
    }
}
