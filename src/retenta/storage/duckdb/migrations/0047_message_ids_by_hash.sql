-- Exact dedup's table check by the ids' 64-bit hash (ingest/dedup.py).
--
-- DuckDB answers a filter on both columns of the composite primary key with a scan, not
-- the key's ART index: with random (UUID) message ids one "point lookup" read the whole
-- table, 66 ms at 2M ids and growing with the store, and a Bloom false positive or an old
-- retry paid it for every key. A single-column ART over the same hash the Bloom filter
-- uses (64 bits of MD5 over workspace_id ␟ message_id) was probed by an IN list: 20 keys in
-- ~2.5 ms, 256 in ~9 ms at 10M ids (until 0048; see the note at the end). The composite
-- key's index is dropped with the table:
-- it cost 24.6 against 8.6 ms to append 5,000 ids, and its rows are twice the size.
-- Uniqueness is kept by the single writer's exact dedup, which reads this table.
CREATE TABLE message_ids_by_hash (
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    h UBIGINT NOT NULL
);
INSERT INTO message_ids_by_hash
SELECT workspace_id, message_id, md5_number_lower(workspace_id || chr(31) || message_id)
FROM message_ids;
DROP TABLE message_ids;
ALTER TABLE message_ids_by_hash RENAME TO message_ids;
-- Session 13 created the single-column index on h here (message_ids_h). Migration 0048
-- drops it again, so a store upgrading past both no longer builds it: at 20M ids the build
-- took 49 s and peaked at 2.84 GB RSS, beyond the 1 GB memory_limit.
