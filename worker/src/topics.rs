//! What a worker subscribes to: a list of entries, each a topic name or, if it starts with `^`, a regex that
//! takes in every topic it matches (librdkafka's own subscription syntax, passed through as it is).
//!
//! A regex also takes in topics created after the worker started, once librdkafka's next metadata refresh
//! (`topic.metadata.refresh.interval.ms`, five minutes by default) sees them.

/// Why a list of topics cannot be subscribed to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// The list is empty.
    #[error("no topic to consume: give at least one topic name, or a regex starting with `^`")]
    NoTopics,
    /// An entry is empty (two commas in a row, or a trailing comma).
    #[error(
        "an empty topic in the list (two commas in a row, or a trailing comma?): give a topic name, or a regex starting with `^`"
    )]
    Empty,
    /// An entry is neither a regex nor a legal Kafka topic name.
    #[error(
        "{name:?} is not a Kafka topic name: use 1 to {MAX_TOPIC} of A-Z a-z 0-9 . _ -, or start it with `^` to make it a regex"
    )]
    BadName {
        /// The entry.
        name: String,
    },
    /// An entry starts with `^` but does not compile as a regex.
    #[error(
        "{pattern:?} is not a valid topic regex ({reason}); fix it, or drop the leading `^` to name one topic"
    )]
    BadPattern {
        /// The entry.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
}

/// Kafka's longest topic name.
const MAX_TOPIC: usize = 249;

/// True if `entry` is a regex rather than a topic name.
pub fn is_pattern(entry: &str) -> bool {
    entry.starts_with('^')
}

/// Checks one entry: a legal topic name, or a regex that compiles.
///
/// librdkafka has its own regex engine; a pattern the `regex` crate accepts but librdkafka does not is
/// reported by librdkafka when the worker subscribes.
pub fn check_topic(entry: &str) -> Result<(), TopicError> {
    if entry.is_empty() {
        return Err(TopicError::Empty);
    }
    if is_pattern(entry) {
        return match regex::Regex::new(entry) {
            Ok(_) => Ok(()),
            Err(e) => Err(TopicError::BadPattern {
                pattern: entry.to_owned(),
                reason: first_line(&e.to_string()),
            }),
        };
    }
    let legal = entry.len() <= MAX_TOPIC
        && entry != "."
        && entry != ".."
        && entry
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if legal {
        Ok(())
    } else {
        Err(TopicError::BadName {
            name: entry.to_owned(),
        })
    }
}

/// Checks a whole list: at least one entry, each one valid.
pub fn check_topics(topics: &[String]) -> Result<(), TopicError> {
    if topics.is_empty() {
        return Err(TopicError::NoTopics);
    }
    topics.iter().try_for_each(|entry| check_topic(entry))
}

/// The regex crate's syntax errors span several lines (the pattern, a caret, the reason): keep the reason.
fn first_line(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with("error:"))
        .map_or_else(
            || message.lines().next().unwrap_or_default().to_owned(),
            |line| {
                line.trim_start()
                    .trim_start_matches("error:")
                    .trim()
                    .to_owned()
            },
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns_are_accepted() {
        for entry in ["events", "shop.orders_v2-eu", r"^shop\..*", "^"] {
            assert_eq!(check_topic(entry), Ok(()), "{entry}");
        }
        assert!(check_topics(&["a".into(), r"^b\d+$".into()]).is_ok());
    }

    #[test]
    fn each_wrong_entry_says_what_is_wrong() {
        assert_eq!(check_topics(&[]), Err(TopicError::NoTopics));
        assert_eq!(
            check_topics(&["a".into(), String::new()]),
            Err(TopicError::Empty)
        );
        assert!(matches!(
            check_topic("my topic"),
            Err(TopicError::BadName { .. })
        ));
        assert!(matches!(check_topic(".."), Err(TopicError::BadName { .. })));
        assert!(matches!(
            check_topic(&"x".repeat(250)),
            Err(TopicError::BadName { .. })
        ));
        let Err(TopicError::BadPattern { pattern, reason }) = check_topic("^shop.(") else {
            panic!("an unclosed group is not a regex");
        };
        assert_eq!(pattern, "^shop.(");
        assert!(!reason.is_empty() && !reason.contains('\n'), "{reason}");
    }
}
