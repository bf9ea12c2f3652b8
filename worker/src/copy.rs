//! PostgreSQL's text `COPY` format: tab-separated columns, `\N` for NULL, backslash escapes.

use serde::Serialize;
use time::{OffsetDateTime, UtcOffset};

/// A position in a [`CopyText`] at the start of a row.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    len: usize,
    rows: usize,
}

/// Builds the text of a `COPY ... FROM STDIN` stream, one row at a time.
#[derive(Debug)]
pub struct CopyText {
    buf: String,
    first_in_row: bool,
    row_ends: Vec<usize>,
    /// Where [`Self::json`] serialises a value before escaping it into `buf`.
    scratch: Vec<u8>,
}

impl Default for CopyText {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl CopyText {
    /// An empty stream with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: String::with_capacity(capacity),
            first_in_row: true,
            row_ends: Vec::new(),
            scratch: Vec::new(),
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
        self.buf.push_str(itoa::Buffer::new().format(value));
        self
    }

    /// A `json` or `jsonb` column holding `value` serialised.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        // serde_json writes valid UTF-8, and values made of JSON types always serialise.
        match serde_json::to_writer(&mut scratch, value)
            .ok()
            .and_then(|()| std::str::from_utf8(&scratch).ok())
        {
            Some(text) => self.text(text),
            None => self.null(),
        };
        self.scratch = scratch;
        self
    }

    /// A timestamptz column, in RFC 3339 and UTC (PostgreSQL refuses offsets beyond ±15:59 that RFC 3339 allows):
    /// `2020-01-02T03:04:05.25Z`, the fraction without trailing zeros and left out when zero.
    pub fn timestamp(&mut self, value: OffsetDateTime) -> &mut Self {
        self.separator();
        if rfc3339_utc(value, &mut self.buf).is_none() {
            // Only timestamps outside years 0..=9999 cannot be written; parsing never yields them.
            self.buf.push_str("\\N");
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

/// Appends `value` in RFC 3339 and UTC, as `time` formats it (`2020-01-02T03:04:05.25Z`: the fraction without
/// trailing zeros, left out when zero), or nothing when it falls outside the years 0..=9999 in UTC.
pub(crate) fn rfc3339_utc(value: OffsetDateTime, buf: &mut String) -> Option<()> {
    let utc = value
        .checked_to_offset(UtcOffset::UTC)
        .filter(|utc| (0..=9999).contains(&utc.year()))?;
    let (year, month, day) = utc.to_calendar_date();
    let (hour, minute, second, nanos) = utc.to_hms_nano();
    digits(buf, year.unsigned_abs(), 4);
    buf.push('-');
    digits(buf, u32::from(u8::from(month)), 2);
    buf.push('-');
    digits(buf, u32::from(day), 2);
    buf.push('T');
    digits(buf, u32::from(hour), 2);
    buf.push(':');
    digits(buf, u32::from(minute), 2);
    buf.push(':');
    digits(buf, u32::from(second), 2);
    if nanos != 0 {
        let (mut fraction, mut width) = (nanos, 9);
        while fraction % 10 == 0 {
            fraction /= 10;
            width -= 1;
        }
        buf.push('.');
        digits(buf, fraction, width);
    }
    buf.push('Z');
    Some(())
}

/// `value` in decimal, zero-padded to `width` digits (`value` has at most `width`).
fn digits(buf: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u32.pow(place) % 10) as u8;
        buf.push(char::from(b'0' + digit));
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
        copy.json(&serde_json::json!({"a": "x\ty\"z"})).end_row();
        let first = &b"a\\tb\\\\c\\nd\\re\t\\N\t-5\t2020-01-02T03:04:05.25Z\n"[..];
        assert_eq!(copy.len(), 3);
        assert_eq!(copy.row_range(0..1), first);
        assert_eq!(copy.row_range(1..2), "é\n".as_bytes());
        assert_eq!(copy.row_range(0..3), copy.as_bytes());
        assert!(copy.row_range(1..1).is_empty());
        assert_eq!(
            std::str::from_utf8(copy.as_bytes()).unwrap(),
            "a\\tb\\\\c\\nd\\re\t\\N\t-5\t2020-01-02T03:04:05.25Z\né\n{\"a\":\"x\\\\ty\\\\\"z\"}\n"
        );
    }

    #[test]
    fn timestamps_are_written_as_rfc3339_formats_them() {
        use time::format_description::well_known::Rfc3339;
        // Spread over the years 0001..=9999, with and without fractions.
        let (first, last) = (-62_135_596_800i64, 253_402_300_799i64);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..20_000u64 {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let seconds = first + (seed >> 16) as i64 % (last - first);
            let nanos = match i % 4 {
                0 => 0,
                1 => (seed % 1000) as i64 * 1_000_000,
                _ => (seed % 1_000_000_000) as i64,
            };
            let time = OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(seconds) * 1_000_000_000 + i128::from(nanos),
            )
            .unwrap();
            let mut copy = CopyText::default();
            copy.timestamp(time);
            assert_eq!(copy.buf, time.format(&Rfc3339).unwrap());
        }
        let mut copy = CopyText::default();
        copy.timestamp(OffsetDateTime::new_utc(
            time::Date::MIN,
            time::Time::MIDNIGHT,
        ));
        assert_eq!(copy.buf, "\\N");
    }
}
