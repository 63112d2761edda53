-- Segments as documented objects (issue #3): the current definition, every revision of it,
-- a daily size snapshot, and where each segment is used (other segments now; campaigns and
-- journeys register their own rows in segment_usages).
CREATE TABLE segments (
    id VARCHAR PRIMARY KEY,            -- seg_…
    workspace_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    owner VARCHAR,                     -- the user's email or the API key's name
    tags VARCHAR[] NOT NULL DEFAULT [],
    kind VARCHAR NOT NULL,             -- rules | sql
    definition JSON,                   -- kind rules: the definition language (docs/segments.md)
    sql VARCHAR,                       -- kind sql: the SELECT over the documented views
    params JSON NOT NULL DEFAULT '{}', -- kind sql: declared @params and their defaults
    realtime BOOLEAN NOT NULL DEFAULT false,
    revision INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE INDEX segments_ws ON segments (workspace_id);

-- Every saved state of a segment, newest revision last: editing a definition is auditable.
CREATE TABLE segment_revisions (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    revision INTEGER NOT NULL,
    action VARCHAR NOT NULL,           -- created | updated | deleted
    changed_at TIMESTAMPTZ NOT NULL,
    changed_by VARCHAR,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL,
    tags VARCHAR[] NOT NULL,
    kind VARCHAR NOT NULL,
    definition JSON,
    sql VARCHAR,
    params JSON NOT NULL,
    realtime BOOLEAN NOT NULL
);

-- One size per segment and day (the last measurement of the day wins).
CREATE TABLE segment_sizes (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    day DATE NOT NULL,
    size BIGINT NOT NULL,
    measured_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, segment_id, day)
);

-- Where a segment is used. used_by_kind: segment | campaign | journey | …; the user of a
-- segment writes its rows when it is saved and deletes them when it is deleted.
CREATE TABLE segment_usages (
    workspace_id VARCHAR NOT NULL,
    segment_id VARCHAR NOT NULL,
    used_by_kind VARCHAR NOT NULL,
    used_by_id VARCHAR NOT NULL,
    used_by_name VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, segment_id, used_by_kind, used_by_id)
);
