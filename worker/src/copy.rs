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
    row_ends: Vec<usize>,
    /// Where [`Self::json`] serialises a value before escaping it into `buf`.
    scratch: Vec<u8>,
    /// The column being written in the row, counted from 1 (0 before the first).
    column: usize,
    /// The last timestamp written in each column, with its text: the next row's is often the same instant
    /// (a batch's `processed_at`, records of the same millisecond).
    stamps: Vec<Option<(OffsetDateTime, Rfc3339Utc)>>,
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
            row_ends: Vec::new(),
            scratch: Vec::new(),
            column: 0,
            stamps: Vec::new(),
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
        let column = self.column - 1;
        if self.stamps.len() <= column {
            self.stamps.resize(column + 1, None);
        }
        let text = match self.stamps[column] {
            Some((last, text)) if last == value => Some(text),
            _ => {
                let text = Rfc3339Utc::of(value);
                self.stamps[column] = text.map(|text| (value, text));
                text
            }
        };
        // Only timestamps outside years 0..=9999 cannot be written; parsing never yields them.
        self.buf
            .push_str(text.as_ref().map_or("\\N", Rfc3339Utc::as_str));
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
        self.column = 0;
    }

    /// Ends the row.
    pub fn end_row(&mut self) {
        self.buf.push('\n');
        self.column = 0;
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
        if self.column > 0 {
            self.buf.push('\t');
        }
        self.column += 1;
    }
}

/// Appends `value` in RFC 3339 and UTC, as `time` formats it (`2020-01-02T03:04:05.25Z`: the fraction without
/// trailing zeros, left out when zero), or nothing when it falls outside the years 0..=9999 in UTC.
pub(crate) fn rfc3339_utc(value: OffsetDateTime, buf: &mut String) -> Option<()> {
    buf.push_str(Rfc3339Utc::of(value)?.as_str());
    Some(())
}

/// The text of an instant in RFC 3339 and UTC, at most `2020-01-02T03:04:05.123456789Z` (30 bytes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rfc3339Utc {
    text: [u8; 30],
    len: u8,
}

impl Rfc3339Utc {
    /// `value`'s text, if it falls in the years 0..=9999 in UTC.
    fn of(value: OffsetDateTime) -> Option<Self> {
        let utc = value
            .checked_to_offset(UtcOffset::UTC)
            .filter(|utc| (0..=9999).contains(&utc.year()))?;
        let (year, month, day) = utc.to_calendar_date();
        let (hour, minute, second, nanos) = utc.to_hms_nano();
        let mut out = Self {
            text: *b"0000-00-00T00:00:00.000000000Z",
            len: 20,
        };
        out.digits(0, year.unsigned_abs(), 4);
        out.digits(5, u32::from(u8::from(month)), 2);
        out.digits(8, u32::from(day), 2);
        out.digits(11, u32::from(hour), 2);
        out.digits(14, u32::from(minute), 2);
        out.digits(17, u32::from(second), 2);
        if nanos != 0 {
            let (mut fraction, mut width) = (nanos, 9);
            while fraction % 10 == 0 {
                fraction /= 10;
                width -= 1;
            }
            out.digits(20, fraction, width);
            out.len = 20 + width as u8 + 1;
        }
        out.text[usize::from(out.len) - 1] = b'Z';
        Some(out)
    }

    /// Writes `value` in decimal at `at`, zero-padded to `width` digits (`value` has at most `width`).
    fn digits(&mut self, at: usize, mut value: u32, width: usize) {
        for place in (at..at + width).rev() {
            self.text[place] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits and separators are ever written.
        std::str::from_utf8(&self.text[..usize::from(self.len)]).unwrap_or_default()
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
        // Repeated instants come from the column's last text; a new one is written afresh.
        let (a, b) = (
            datetime!(2020-01-02 03:04:05.5 UTC),
            datetime!(1999-12-31 23:59:59 UTC),
        );
        let mut copy = CopyText::default();
        for (x, y) in [(a, b), (a, b), (b, b), (a, a)] {
            copy.timestamp(x).int(1).timestamp(y).end_row();
        }
        let (a, b) = ("2020-01-02T03:04:05.5Z", "1999-12-31T23:59:59Z");
        assert_eq!(
            copy.buf,
            format!("{a}\t1\t{b}\n{a}\t1\t{b}\n{b}\t1\t{b}\n{a}\t1\t{a}\n")
        );
        let mut copy = CopyText::default();
        copy.timestamp(OffsetDateTime::new_utc(
            time::Date::MIN,
            time::Time::MIDNIGHT,
        ));
        assert_eq!(copy.buf, "\\N");
    }
}
