//! A route's JSON Schema: read and compiled once when the pipeline is loaded, then used to check each
//! event's `data`.
//!
//! Schemas are draft 2020-12 whatever their `$schema` says. A `$ref` may name a file next to the schema
//! (relative references resolve against the schema file), never a URL: nothing is fetched over the
//! network. `format` is an annotation, as draft 2020-12 has it, and not asserted.

use crate::PipelineError;
use crate::route::Route;
use crate::span::Location;
use jsonschema::{Retrieve, Uri, ValidationError, Validator};
use serde_json::Value;
use std::fmt::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The longest [`Violation::message`], in characters (a type error quotes the whole value).
const MAX_MESSAGE_CHARS: usize = 200;

/// A route's `schema` key: the file, where the key is, and the validator once compiled.
#[derive(Debug, Clone)]
pub(crate) struct RouteSchema {
    /// Resolved against the pipeline file's directory.
    pub(crate) path: PathBuf,
    /// The `schema` value in the pipeline file, for errors.
    pub(crate) at: Location,
    /// `None` until [`Pipeline::load_schemas`](crate::Pipeline::load_schemas).
    pub(crate) validator: Option<Arc<Validator>>,
}

/// The first way an event's data breaks its route's schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("data does not match the schema of route \"{route}\": {pointer}: {keyword}: {message}")]
pub struct Violation {
    /// The route whose schema it breaks.
    pub route: String,
    /// A JSON pointer into the event, so under `/data` (`/data/amount`); `/data` for the whole data.
    /// For `required` it is the object that lacks the member.
    pub pointer: String,
    /// The JSON Schema keyword that failed: `minimum`, `required`, `type`, …
    pub keyword: String,
    /// The validator's message, on one line and at most about 200 characters.
    pub message: String,
}

impl Violation {
    fn new(route: &str, error: &ValidationError<'_>) -> Self {
        let mut message = Bounded::default();
        // An error here only means the message reached its bound.
        let _ = write!(message, "{error}");
        Self {
            route: route.to_owned(),
            pointer: format!("/data{}", error.instance_path().as_str()),
            keyword: error.kind().keyword().to_owned(),
            message: message.finish(),
        }
    }
}

// === impl Route ===

impl Route {
    /// Whether the route checks its events' data against a schema: it names one and the schema was
    /// loaded (by [`Pipeline::from_file`](crate::Pipeline::from_file) or
    /// [`Pipeline::load_schemas`](crate::Pipeline::load_schemas)).
    pub fn has_schema(&self) -> bool {
        self.schema
            .as_ref()
            .is_some_and(|schema| schema.validator.is_some())
    }

    /// Checks an event's `data` against the route's schema; `None` (the event has no data, or only
    /// `data_base64`) is checked as JSON `null`. `Ok` for a route without a loaded schema.
    pub fn check_data(&self, data: Option<&Value>) -> Result<(), Violation> {
        let Some(validator) = self
            .schema
            .as_ref()
            .and_then(|schema| schema.validator.as_deref())
        else {
            return Ok(());
        };
        let instance = data.unwrap_or(&Value::Null);
        // The quick yes/no first: most events are valid, and only a refusal needs the error's detail.
        if validator.is_valid(instance) {
            return Ok(());
        }
        match validator.iter_errors(instance).next() {
            Some(error) => Err(Violation::new(&self.name, &error)),
            None => Ok(()),
        }
    }

    /// Reads and compiles the route's schema, if it names one.
    pub(crate) fn load_schema(&mut self) -> Result<(), PipelineError> {
        let Some(schema) = &mut self.schema else {
            return Ok(());
        };
        let validator = compile(&schema.path).map_err(|message| PipelineError::Invalid {
            at: schema.at.clone(),
            message: format!("route \"{}\": schema: {message}", self.name),
        })?;
        schema.validator = Some(Arc::new(validator));
        Ok(())
    }
}

/// The compiled schema in `path`, or what is wrong with it (naming the file).
fn compile(path: &Path) -> Result<Validator, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let schema: Value =
        serde_json::from_str(&text).map_err(|e| format!("{shown} is not JSON: {e}"))?;
    let mut options = jsonschema::draft202012::options();
    options = options.with_retriever(LocalFiles);
    if let Some(base) = file_uri(path) {
        options = options.with_base_uri(base);
    }
    options.build(&schema).map_err(|error| {
        let within = error.instance_path().as_str();
        let within = if within.is_empty() {
            String::new()
        } else {
            format!(" at {within}")
        };
        let mut message = Bounded::default();
        let _ = write!(message, "{error}");
        format!(
            "{shown} is not a valid JSON Schema (draft 2020-12){within}: {}",
            message.finish()
        )
    })
}

/// `file://` and the absolute path, percent-encoded: the base that relative `$ref`s resolve against.
/// `None` for a path that is not UTF-8 (its relative `$ref`s then fail to resolve, with a message).
fn file_uri(path: &Path) -> Option<String> {
    let absolute = std::path::absolute(path).ok()?;
    let mut uri = String::from("file://");
    for byte in absolute.to_str()?.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.' | b'~') {
            uri.push(char::from(byte));
        } else {
            let _ = write!(uri, "%{byte:02X}");
        }
    }
    Some(uri)
}

/// Fetches what a `$ref` names from local files only: a schema file is configuration, and loading the
/// pipeline must not reach out to the network.
struct LocalFiles;

impl Retrieve for LocalFiles {
    fn retrieve(
        &self,
        uri: &Uri<String>,
    ) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        if uri.scheme().as_str() != "file" {
            return Err(format!(
                "{uri} is not a local file; pacer fetches no schema over the network, so copy it next to the schema and $ref it by a relative path"
            )
            .into());
        }
        let path = uri.path().decode().to_string_lossy().into_owned();
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{path} is not JSON: {e}").into())
    }
}

/// A message on one line, cut at [`MAX_MESSAGE_CHARS`]; writing past the bound fails, which stops the
/// formatting of a huge value early.
#[derive(Default)]
struct Bounded {
    text: String,
    chars: usize,
    cut: bool,
}

impl Bounded {
    fn finish(mut self) -> String {
        if self.cut {
            self.text.push('…');
        }
        self.text
    }
}

impl Write for Bounded {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        for c in piece.chars() {
            if self.chars == MAX_MESSAGE_CHARS {
                self.cut = true;
                return Err(fmt::Error);
            }
            self.text.push(if c.is_control() { ' ' } else { c });
            self.chars += 1;
        }
        Ok(())
    }
}
