-- Contacts: the events tiers for fast per-contact reads, and the erasure audit trail.

-- The event log as a small log-structured merge tree (see storage/duckdb/compaction.py):
--   events_recent  L0: takes every append (unsorted, kept small by flushes);
--   events_l1      L1: sorted runs flushed from L0, consolidated by contact-id range;
--   events         L2: the base, clustered by (workspace_id, contact_id, timestamp).
-- Zone maps on a clustered tier skip every row group but one or two for a contact.
CREATE TABLE events_l1 AS SELECT * FROM events WITH NO DATA;
CREATE OR REPLACE VIEW all_events AS
    SELECT * FROM events
    UNION ALL SELECT * FROM events_l1
    UNION ALL SELECT * FROM events_recent;

-- A range pass in progress (one row per target tier): the next contact id to rewrite.
-- Each step commits its rows and its progress together, so a crash resumes exactly.
CREATE TABLE event_compaction (
    tier VARCHAR PRIMARY KEY,        -- 'events_l1' | 'events'
    next_lo BIGINT NOT NULL,
    hi BIGINT NOT NULL,              -- exclusive upper bound of the pass
    width BIGINT NOT NULL,           -- contact ids per step
    started_at TIMESTAMPTZ NOT NULL
);

-- GDPR erasure audit: what was erased and when, never who (no identifiers, no attributes).
CREATE SEQUENCE erasure_id_seq START 1;
CREATE TABLE erasures (
    id BIGINT PRIMARY KEY DEFAULT nextval('erasure_id_seq'),
    workspace_id VARCHAR NOT NULL,
    erased_at TIMESTAMPTZ NOT NULL,
    requested_by VARCHAR NOT NULL,   -- key or user id of the caller
    contacts INTEGER NOT NULL,
    identifiers INTEGER NOT NULL,
    events BIGINT NOT NULL,
    rows_deleted JSON NOT NULL       -- table -> rows deleted
);

-- How many sorted runs L1 holds since its last consolidation (each one costs a read).
CREATE TABLE event_tier_state (
    tier VARCHAR PRIMARY KEY,
    runs INTEGER NOT NULL
);
INSERT INTO event_tier_state VALUES ('events_l1', 0);

-- Point lookups. DuckDB 2.0 probes an ART index only for an equality on a single indexed
-- column that is the scan's only filter; the (workspace_id, type, value) primary key is
-- never probed, so "contact by identifier" scanned every identity. These single-column
-- indexes are probed from a MATERIALIZED CTE (see contacts/queries.py), the other
-- conditions applied after.
CREATE INDEX identities_value ON identities (value);
CREATE INDEX order_items_order ON order_items (order_id);
