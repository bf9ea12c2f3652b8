//! PostgreSQL's text `COPY` format: tab-separated columns, `\N` for NULL, backslash escapes.

use std::fmt::Write as _;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A position in a [`CopyText`] at the start of a row.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    len: usize,
    rows: usize,
}

/// Builds the text of a `COPY ... FROM STDIN` stream, one row at a time.
#[derive(Debug, Default)]
pub struct CopyText {
    buf: String,
    first_in_row: bool,
    row_ends: Vec<usize>,
}

impl CopyText {
    /// An empty stream with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: String::with_capacity(capacity),
            first_in_row: true,
            row_ends: Vec::new(),
        }
    }

    /// A text column.
    pub fn text(&mut self, value: &str) -> &mut Self {
        self.separator();
        // The four escaped characters are ASCII, so copying the runs between them keeps UTF-8 intact.
        let mut start = 0;
        for (i, b) in value.bytes().enumerate() {
            let escape = match b {
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                _ => continue,
            };
            self.buf.push_str(&value[start..i]);
            self.buf.push_str(escape);
            start = i + 1;
        }
        self.buf.push_str(&value[start..]);
        self
    }

    /// A nullable text column.
    pub fn opt_text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.text(v),
            None => self.null(),
        }
    }

    /// An integer column.
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.separator();
        let _ = write!(self.buf, "{value}");
        self
    }

    /// A timestamptz column, in RFC 3339 and UTC (PostgreSQL refuses offsets beyond ±15:59 that RFC 3339 allows).
    pub fn timestamp(&mut self, value: OffsetDateTime) -> &mut Self {
        self.separator();
        match value
            .checked_to_offset(time::UtcOffset::UTC)
            .map(|utc| utc.format(&Rfc3339))
        {
            Some(Ok(text)) => self.buf.push_str(&text),
            // Only timestamps outside years 0..=9999 cannot be formatted; parsing never yields them.
            _ => self.buf.push_str("\\N"),
        }
        self
    }

    /// A NULL column.
    pub fn null(&mut self) -> &mut Self {
        self.separator();
        self.buf.push_str("\\N");
        self
    }

    /// Where the stream is now, to take back a row that could not be completed.
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            rows: self.row_ends.len(),
        }
    }

    /// Takes back everything written since `mark` (a row half-written when one of its values failed).
    pub fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.row_ends.truncate(mark.rows);
        self.first_in_row = true;
    }

    /// Ends the row.
    pub fn end_row(&mut self) {
        self.buf.push('\n');
        self.first_in_row = true;
        self.row_ends.push(self.buf.len());
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.row_ends.len()
    }

    /// Whether there is no row.
    pub fn is_empty(&self) -> bool {
        self.row_ends.is_empty()
    }

    /// The bytes of rows `range` (each with its newline), to write part of the stream.
    ///
    /// # Panics
    /// If the range goes past the last row.
    pub fn row_range(&self, range: std::ops::Range<usize>) -> &[u8] {
        if range.is_empty() {
            return &[];
        }
        let start = match range.start {
            0 => 0,
            n => self.row_ends[n - 1],
        };
        &self.buf.as_bytes()[start..self.row_ends[range.end - 1]]
    }

    /// The stream's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_bytes()
    }

    fn separator(&mut self) {
        if !self.first_in_row {
            self.buf.push('\t');
        }
        self.first_in_row = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn escapes_and_nulls() {
        let mut copy = CopyText::with_capacity(64);
        copy.text("a\tb\\c\nd\re")
            .opt_text(None)
            .int(-5)
            .timestamp(datetime!(2020-01-02 23:04:05.25 +20:00));
        copy.end_row();
        copy.text("é").end_row();
        let first = &b"a\\tb\\\\c\\nd\\re\t\\N\t-5\t2020-01-02T03:04:05.25Z\n"[..];
        assert_eq!(copy.len(), 2);
        assert_eq!(copy.row_range(0..1), first);
        assert_eq!(copy.row_range(1..2), "é\n".as_bytes());
        assert_eq!(copy.row_range(0..2), copy.as_bytes());
        assert!(copy.row_range(1..1).is_empty());
        assert_eq!(
            std::str::from_utf8(copy.as_bytes()).unwrap(),
            "a\\tb\\\\c\\nd\\re\t\\N\t-5\t2020-01-02T03:04:05.25Z\né\n"
        );
    }
}
