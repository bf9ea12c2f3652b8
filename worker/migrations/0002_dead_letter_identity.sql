-- A valid event that PostgreSQL refused (a constraint an operator added, say) is dead-lettered with its
-- CloudEvents identity. A client that retried the event after a lost answer produced it twice, under two
-- offsets; the identity keeps that to one dead letter, as the primary key of `events` does for rows.
ALTER TABLE dead_letters
    ADD COLUMN event_source text,
    ADD COLUMN event_id     text;

-- NULLs are distinct: records that are not events at all (no identity) are kept one per offset.
CREATE UNIQUE INDEX dead_letters_event ON dead_letters (event_source, event_id);
