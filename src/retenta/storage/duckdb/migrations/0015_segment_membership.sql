-- Stored segment membership (issue #3, docs/segments-realtime.md): intervals of membership,
-- the entry/exit events journeys start from, the state of each segment's last full pass,
-- and the drift every periodic full recompute measured against the incremental state.

-- One row per stay of a contact in a segment; the current members have exited_at NULL.
CREATE TABLE segment_membership (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    exited_at TIMESTAMPTZ
);

-- Append-only: every entry and exit, with what caused it.
CREATE TABLE segment_events (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,             -- entered | exited
    "at" TIMESTAMPTZ NOT NULL,        -- quoted: AT is a reserved word in DuckDB 2
    cause VARCHAR NOT NULL             -- event | expiry | refresh | definition
);

-- The last full pass of each segment: the revision it evaluated, the `now` it used, its size,
-- and when the next time-driven pass (expiry, drift check) is due.
CREATE TABLE segment_membership_state (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    evaluated_at TIMESTAMPTZ NOT NULL,
    size BIGINT NOT NULL,
    next_pass_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, segment_id)
);

-- One row per periodic full recompute: `drift` counts the contacts whose stored membership
-- differed from the recompute for a reason other than time passing (must be 0).
CREATE TABLE segment_drift (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    checked_at TIMESTAMPTZ NOT NULL,
    size BIGINT NOT NULL,
    expired BIGINT NOT NULL,           -- changes explained by time passing (applied as expiry)
    drift BIGINT NOT NULL,             -- changes nothing explained (repaired as refresh)
    sample BIGINT[] NOT NULL           -- up to 20 of the drifting contact ids
);
