//! Typed errors that name what is wrong with an event, and where.

use std::fmt;

/// Why an event (or a whole request body) was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct EventError {
    /// Position of the offending event in a batch or NDJSON body (0-based); `None` for a single event.
    pub index: Option<usize>,
    /// What is wrong.
    pub problem: Problem,
}

/// The kinds of problem an event can have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The bytes are not well-formed JSON (or not UTF-8). Line and column are 1-based, in the whole body.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON value is not an object.
    NotAnObject,
    /// A batch or NDJSON body that holds no event at all.
    EmptyBatch,
    /// A required attribute is absent (or `null`).
    Missing { attribute: &'static str },
    /// An attribute has the wrong JSON type.
    WrongType {
        attribute: String,
        expected: &'static str,
    },
    /// An attribute has the right type but a value the specification forbids.
    Invalid { attribute: String, reason: String },
}

impl EventError {
    pub(crate) fn new(problem: Problem) -> Self {
        Self {
            index: None,
            problem,
        }
    }

    pub(crate) fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }

    /// True for malformed bytes (HTTP 400); false for well-formed JSON that is not a valid event (HTTP 422).
    pub fn is_syntax(&self) -> bool {
        matches!(self.problem, Problem::Syntax { .. })
    }

    /// The attribute this error is about, if any.
    pub fn attribute(&self) -> Option<&str> {
        match &self.problem {
            Problem::Missing { attribute } => Some(attribute),
            Problem::WrongType { attribute, .. } | Problem::Invalid { attribute, .. } => {
                Some(attribute)
            }
            _ => None,
        }
    }

    /// A short machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self.problem {
            Problem::Syntax { .. } => "malformed_json",
            Problem::NotAnObject => "not_an_object",
            Problem::EmptyBatch => "empty_batch",
            Problem::Missing { .. } => "missing_attribute",
            Problem::WrongType { .. } => "wrong_type",
            Problem::Invalid { .. } => "invalid_attribute",
        }
    }
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(index) = self.index {
            write!(f, "event {index}: ")?;
        }
        match &self.problem {
            Problem::Syntax {
                line,
                column,
                message,
            } => {
                write!(
                    f,
                    "malformed JSON at line {line}, column {column}: {message}"
                )
            }
            Problem::NotAnObject => f.write_str("a CloudEvent must be a JSON object"),
            Problem::EmptyBatch => f.write_str("the batch holds no events"),
            Problem::Missing { attribute } => {
                write!(f, "required attribute `{attribute}` is missing")
            }
            Problem::WrongType {
                attribute,
                expected,
            } => {
                write!(f, "attribute `{attribute}` must be {expected}")
            }
            Problem::Invalid { attribute, reason } => write!(f, "attribute `{attribute}` {reason}"),
        }
    }
}

impl Problem {
    pub(crate) fn syntax(err: &serde_json::Error, line_offset: usize) -> Self {
        // serde_json's Display appends " at line L column C"; keep only the description.
        let text = err.to_string();
        let message = match text.rfind(" at line ") {
            Some(cut) => text[..cut].to_owned(),
            None => text,
        };
        Problem::Syntax {
            line: err.line() + line_offset,
            column: err.column(),
            message,
        }
    }
}
