//! Byte offsets in the pipeline file turned into the `file:line:column` that every error starts with.
//!
//! The `toml` crate reports where things are as byte ranges; people read lines and columns. Lines and
//! columns count from 1, and a column counts characters, not bytes, so a name with an accent before the
//! mistake does not shift the caret.

use std::fmt;

/// A place in the pipeline file: the file as the user named it, and a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    file: String,
    line: usize,
    column: usize,
}

impl Location {
    /// The place of byte `offset` in `text`. An offset past the end (or inside a character) is clamped.
    pub(crate) fn at(file: &str, text: &str, offset: usize) -> Self {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        Self {
            file: file.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }

    /// The file as it was named when the pipeline was read.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The line, counting from 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column in characters, counting from 1.
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_and_characters_from_one() {
        let text = "a = 1\nnamé = 2\n";
        assert_eq!(Location::at("p.toml", text, 0).to_string(), "p.toml:1:1");
        let eq = text.rfind('=').unwrap_or_default();
        assert_eq!(Location::at("p.toml", text, eq).to_string(), "p.toml:2:6");
        assert_eq!(
            Location::at("p.toml", text, 10_000).to_string(),
            "p.toml:3:1"
        );
    }
}
