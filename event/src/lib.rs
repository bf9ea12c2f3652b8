//! CloudEvents 1.0 in their JSON form: parsing, validation and re-encoding.
//!
//! Ingest and worker enforce the same rules through this crate: ingest rejects a bad request before anything
//! reaches Kafka, and the worker dead-letters a bad record that someone produced straight to the topic.
#![forbid(unsafe_code)]

mod encode;
mod error;
mod event;
mod object;
mod parse;
mod validate;

pub use error::{EventError, Problem};
pub use event::CloudEvent;
pub use object::string as json_string;
pub use parse::{BodyFormat, parse_batch, parse_body, parse_ndjson, parse_one};
