CREATE TABLE import_mappings (
    workspace_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,         -- contacts | orders | products | events
    mapping JSON NOT NULL,           -- {"source column": "target field"}
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE import_jobs (
    id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    stored_path VARCHAR NOT NULL,
    mapping JSON NOT NULL,
    status VARCHAR NOT NULL,         -- queued | running | done | failed
    total_rows BIGINT,
    processed_rows BIGINT NOT NULL DEFAULT 0,   -- checkpoint: rows committed so far
    accepted_rows BIGINT NOT NULL DEFAULT 0,
    rejected_rows BIGINT NOT NULL DEFAULT 0,
    error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE import_rejects (
    job_id VARCHAR NOT NULL,
    row_number BIGINT NOT NULL,
    field VARCHAR,
    reason VARCHAR NOT NULL,
    raw JSON
);
