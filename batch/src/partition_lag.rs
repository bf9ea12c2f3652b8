/// How far behind one partition of a topic is, as a worker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Records between the committed offset and the end of the partition.
    pub lag: i64,
    /// The end of the partition (its high watermark), if known.
    pub end: Option<i64>,
}
