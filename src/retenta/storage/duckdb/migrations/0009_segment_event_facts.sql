-- Segmentation (issue #3), SEG-PERF: a narrow, time-ordered copy of the flushed event tiers
-- for segment scans (segments/event_facts.py).
--
-- The event tiers are clustered by contact (timelines), so a segment's time window prunes
-- no row group there, and a property filter parses every row's JSON `properties`. This
-- table holds, for every row of `events` (L2) and `events_l1` (L1), the few columns an
-- event condition reads: the event name, the time, the raw contact, and the JSON text
-- (`properties ->> key`) of the hot properties. Kept ordered by (workspace, event, time),
-- so zone maps prune both the event name and the window; the hot properties are short
-- dictionary-compressed strings instead of documents. `events_recent` (L0) is read as is.
-- Filled by `segments.event_facts.rebuild`; the compiler reads it only while its row count
-- equals L1 + L2 (see the module for why that is exact). Erasure deletes a person's rows
-- here as in the tiers (contacts/privacy.py finds tables by their contact_id column).
CREATE TABLE event_facts (
    workspace_id VARCHAR NOT NULL,
    event VARCHAR,
    "timestamp" TIMESTAMPTZ NOT NULL,
    contact_id BIGINT NOT NULL,       -- raw, as in the tiers (views map merges)
    category VARCHAR,                 -- properties ->> 'category', and so on
    product_id VARCHAR,
    sku VARCHAR,
    brand VARCHAR,
    price VARCHAR
);
