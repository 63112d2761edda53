-- The last intake-journal record the store has applied (ingest/journal.py): written in the
-- unit that applied it, read at start to apply the records after it again.
CREATE TABLE ingest_journal (applied_seq BIGINT NOT NULL);
INSERT INTO ingest_journal VALUES (0);
