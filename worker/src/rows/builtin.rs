//! The built-in `events` layout: the whole CloudEvent, its payload as `jsonb`, keyed by `(source, id)`.
//! A route without declared columns writes it (and so does pacer without a pipeline file).

use super::resolve::RecordFacts;
use crate::copy::CopyText;
use pacer_event::CloudEvent;

/// The columns of the events layout, in the order [`write`] writes them.
pub const EVENT_COLUMNS: &str = "source, id, type, time, subject, datacontenttype, dataschema, data, data_base64, \
     extensions, ingested_at, processed_at, kafka_partition, kafka_offset";

/// Writes one event as a row of the events layout.
pub(crate) fn write(rows: &mut CopyText, event: &CloudEvent, facts: &RecordFacts<'_>) {
    let data = event.data.as_ref().map(|raw| raw.get());
    rows.text(&event.source)
        .text(&event.id)
        .text(&event.ty)
        .timestamp(event.time)
        .opt_text(event.subject.as_deref())
        .opt_text(event.datacontenttype.as_deref())
        .opt_text(event.dataschema.as_deref())
        .opt_text(data)
        .opt_text(event.data_base64.as_deref())
        .json(&event.extensions)
        .timestamp(facts.ingested_at)
        .timestamp(facts.processed_at)
        .int(i64::from(facts.partition))
        .int(facts.offset);
    rows.end_row();
}
