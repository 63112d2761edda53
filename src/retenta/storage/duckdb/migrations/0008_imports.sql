-- Imports: uploaded files awaiting a job, and job details beyond 0003's columns.

-- A file stored under <data_dir>/imports/ by an upload; a job refers to it by id.
CREATE TABLE import_uploads (
    id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    file_sha256 VARCHAR NOT NULL,
    stored_path VARCHAR NOT NULL,
    format VARCHAR NOT NULL,          -- csv | xlsx
    size_bytes BIGINT NOT NULL,
    columns JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

ALTER TABLE import_jobs ADD COLUMN upload_id VARCHAR;
ALTER TABLE import_jobs ADD COLUMN format VARCHAR;
-- Counters beyond accepted/rejected: duplicates skipped, consents changed, orders written...
ALTER TABLE import_jobs ADD COLUMN stats JSON;
ALTER TABLE import_jobs ADD COLUMN started_at TIMESTAMPTZ;
ALTER TABLE import_jobs ADD COLUMN finished_at TIMESTAMPTZ;
