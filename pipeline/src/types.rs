//! The small vocabularies of the pipeline file, parsed once: column types, where a column's value comes
//! from, and a route's write mode.
//!
//! Each parses from the file's spelling (`FromStr`, with an error that lists what is accepted) and prints
//! the canonical PostgreSQL or file spelling (`Display`), so nothing downstream compares strings.

use std::fmt;
use std::str::FromStr;

/// A scalar PostgreSQL type a column can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalarType {
    /// `text`
    Text,
    /// `integer` (`int`, `int4`)
    Integer,
    /// `bigint` (`int8`)
    BigInt,
    /// `numeric` (`decimal`)
    Numeric,
    /// `double precision` (`float8`)
    DoublePrecision,
    /// `boolean` (`bool`)
    Boolean,
    /// `timestamptz` (`timestamp with time zone`)
    Timestamptz,
    /// `date`
    Date,
    /// `uuid`
    Uuid,
    /// `jsonb`; never the element of an array (a JSON array is a `jsonb` value already).
    Jsonb,
}

impl ScalarType {
    /// Every scalar type, in the order error messages list them.
    pub const ALL: [ScalarType; 10] = [
        Self::Text,
        Self::Integer,
        Self::BigInt,
        Self::Numeric,
        Self::DoublePrecision,
        Self::Boolean,
        Self::Timestamptz,
        Self::Date,
        Self::Uuid,
        Self::Jsonb,
    ];

    /// The canonical PostgreSQL spelling.
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Integer => "integer",
            Self::BigInt => "bigint",
            Self::Numeric => "numeric",
            Self::DoublePrecision => "double precision",
            Self::Boolean => "boolean",
            Self::Timestamptz => "timestamptz",
            Self::Date => "date",
            Self::Uuid => "uuid",
            Self::Jsonb => "jsonb",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "text" => Self::Text,
            "integer" | "int" | "int4" => Self::Integer,
            "bigint" | "int8" => Self::BigInt,
            "numeric" | "decimal" => Self::Numeric,
            "double precision" | "float8" => Self::DoublePrecision,
            "boolean" | "bool" => Self::Boolean,
            "timestamptz" | "timestamp with time zone" => Self::Timestamptz,
            "date" => Self::Date,
            "uuid" => Self::Uuid,
            "jsonb" => Self::Jsonb,
            _ => return None,
        })
    }
}

/// A column's PostgreSQL type: a scalar, or a one-dimensional array of a scalar other than `jsonb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// A single value.
    Scalar(ScalarType),
    /// `T[]`.
    Array(ScalarType),
}

impl ColumnType {
    /// The scalar type, or the element type of an array.
    pub fn scalar(self) -> ScalarType {
        match self {
            Self::Scalar(scalar) | Self::Array(scalar) => scalar,
        }
    }

    /// Whether this is `T[]`.
    pub fn is_array(self) -> bool {
        matches!(self, Self::Array(_))
    }
}

/// Why a column type did not parse; the message lists every accepted spelling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnTypeError {
    /// Not a type pacer writes.
    #[error("unknown type \"{0}\"; expected one of {list}, or T[] of any of them but jsonb", list = type_list())]
    Unknown(String),
    /// `jsonb[]`.
    #[error("\"{0}\" is not supported; use jsonb, which holds a JSON array itself")]
    JsonbArray(String),
}

fn type_list() -> String {
    let names: Vec<&str> = ScalarType::ALL
        .iter()
        .map(|scalar| scalar.sql_name())
        .collect();
    names.join(", ")
}

impl FromStr for ColumnType {
    type Err = ColumnTypeError;

    /// Case-insensitive; runs of spaces count as one (`double  precision`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normal = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        let (name, array) = match normal.strip_suffix("[]") {
            Some(element) => (element.trim_end(), true),
            None => (normal.as_str(), false),
        };
        let scalar =
            ScalarType::from_name(name).ok_or_else(|| ColumnTypeError::Unknown(text.to_owned()))?;
        match (scalar, array) {
            (ScalarType::Jsonb, true) => Err(ColumnTypeError::JsonbArray(text.to_owned())),
            (scalar, true) => Ok(Self::Array(scalar)),
            (scalar, false) => Ok(Self::Scalar(scalar)),
        }
    }
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Scalar(scalar) => f.write_str(scalar.sql_name()),
            Self::Array(scalar) => write!(f, "{}[]", scalar.sql_name()),
        }
    }
}

/// A fact about the Kafka record or its processing, as opposed to a value inside the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordFact {
    /// `kafka.topic`: the topic the record was read from.
    KafkaTopic,
    /// `kafka.partition`
    KafkaPartition,
    /// `kafka.offset`
    KafkaOffset,
    /// `ingested_at`: when ingest accepted the event.
    IngestedAt,
    /// `processed_at`: when the worker wrote the batch.
    ProcessedAt,
}

impl RecordFact {
    /// Every fact, in the order error messages list them.
    pub const ALL: [RecordFact; 5] = [
        Self::KafkaTopic,
        Self::KafkaPartition,
        Self::KafkaOffset,
        Self::IngestedAt,
        Self::ProcessedAt,
    ];

    /// The spelling in the pipeline file.
    pub fn name(self) -> &'static str {
        match self {
            Self::KafkaTopic => "kafka.topic",
            Self::KafkaPartition => "kafka.partition",
            Self::KafkaOffset => "kafka.offset",
            Self::IngestedAt => "ingested_at",
            Self::ProcessedAt => "processed_at",
        }
    }
}

/// Where a column's value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnSource {
    /// A JSON pointer (RFC 6901) into the CloudEvent, such as `/data/order/id` or `/time`.
    Pointer(String),
    /// A fact about the Kafka record or its processing.
    Record(RecordFact),
}

impl ColumnSource {
    /// The pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`); empty for a record fact.
    pub fn pointer_tokens(&self) -> Vec<String> {
        match self {
            Self::Pointer(pointer) => pointer
                .split('/')
                .skip(1)
                .map(|token| token.replace("~1", "/").replace("~0", "~"))
                .collect(),
            Self::Record(_) => Vec::new(),
        }
    }
}

impl FromStr for ColumnSource {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(fact) = RecordFact::ALL.into_iter().find(|fact| fact.name() == text) {
            return Ok(Self::Record(fact));
        }
        let facts: Vec<&str> = RecordFact::ALL.iter().map(|fact| fact.name()).collect();
        let expected = format!(
            "expected a JSON pointer into the event such as /data/..., /time or /source, or one of {}",
            facts.join(", ")
        );
        match check_pointer(text) {
            Ok(()) => Ok(Self::Pointer(text.to_owned())),
            Err(PointerProblem::NotAPointer) => {
                Err(format!("unknown source \"{text}\"; {expected}"))
            }
            Err(PointerProblem::NamesNothing) => {
                Err(format!("\"{text}\" names no event attribute; {expected}"))
            }
            Err(problem @ PointerProblem::BareTilde) => Err(problem.message(text)),
        }
    }
}

/// Why a text is not a JSON pointer (RFC 6901) that names a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointerProblem {
    /// It does not start with `/`.
    NotAPointer,
    /// Its first reference token is empty (`/`, `//x`).
    NamesNothing,
    /// A `~` that is not the escape `~0` or `~1`.
    BareTilde,
}

impl PointerProblem {
    /// What is wrong with `text`, without what is expected instead.
    pub(crate) fn message(self, text: &str) -> String {
        match self {
            Self::NotAPointer => format!("\"{text}\" is not a JSON pointer (it must start with /)"),
            Self::NamesNothing => format!("\"{text}\" names no member"),
            Self::BareTilde => {
                format!("\"{text}\" has a bare ~; in a JSON pointer write ~0 for ~ and ~1 for /")
            }
        }
    }
}

/// Whether `text` is a JSON pointer whose first token names a member.
pub(crate) fn check_pointer(text: &str) -> Result<(), PointerProblem> {
    if !text.starts_with('/') {
        return Err(PointerProblem::NotAPointer);
    }
    if text.split('/').nth(1).is_none_or(str::is_empty) {
        return Err(PointerProblem::NamesNothing);
    }
    // RFC 6901: `~` only as the escapes `~0` and `~1`.
    let mut rest = text;
    while let Some(at) = rest.find('~') {
        rest = &rest[at + 1..];
        if !(rest.starts_with('0') || rest.starts_with('1')) {
            return Err(PointerProblem::BareTilde);
        }
    }
    Ok(())
}

impl fmt::Display for ColumnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pointer(pointer) => f.write_str(pointer),
            Self::Record(fact) => f.write_str(fact.name()),
        }
    }
}

/// How a route writes its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Insert every event; a repeated key (a redelivered event) is skipped.
    #[default]
    Append,
    /// Insert or update by key; a version older than the stored one (by the route's order) is skipped.
    Upsert,
    /// Delete the row with the event's key.
    Delete,
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "append" => Ok(Self::Append),
            "upsert" => Ok(Self::Upsert),
            "delete" => Ok(Self::Delete),
            _ => Err(format!(
                "unknown mode \"{text}\"; expected one of append, upsert, delete"
            )),
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Append => "append",
            Self::Upsert => "upsert",
            Self::Delete => "delete",
        })
    }
}
