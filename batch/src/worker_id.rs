//! A worker's name, as the control plane, the metrics and `batch_metrics` know it.

use std::fmt;

/// A worker's id, unique in its consumer group: 1 to [`WorkerId::MAX_LEN`] bytes, printable, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerId(String);

impl WorkerId {
    /// The most bytes an id may have.
    pub const MAX_LEN: usize = 256;

    /// An id, if it is not empty, not too long and printable.
    pub fn new(id: impl Into<String>) -> Option<Self> {
        let id = id.into();
        let valid = !id.is_empty()
            && id.len() <= Self::MAX_LEN
            && id.chars().all(|c| !c.is_control() && !c.is_whitespace());
        valid.then_some(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_must_be_printable_and_short() {
        assert!(WorkerId::new("host-12-w0").is_some());
        assert!(WorkerId::new("").is_none());
        assert!(WorkerId::new("a b").is_none());
        assert!(WorkerId::new("a\u{7}").is_none());
        assert!(WorkerId::new("x".repeat(WorkerId::MAX_LEN)).is_some());
        assert!(WorkerId::new("x".repeat(WorkerId::MAX_LEN + 1)).is_none());
    }
}
