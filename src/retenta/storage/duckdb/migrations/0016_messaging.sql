-- Messages and channels (issue #4): the suppression list and promo codes.

-- Addresses and phone numbers nothing is ever sent to again (per workspace). Stored as a
-- SHA-256 of the normalized value (`kind:value`) plus a masked hint for people to read;
-- the first reason recorded stays (a later manual entry does not hide a hard bounce).
CREATE TABLE suppressions (
    workspace_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,           -- email | phone
    value_hash VARCHAR NOT NULL,     -- sha256 hex of 'kind:normalized value'
    hint VARCHAR NOT NULL,           -- o***a@example.com, +38050*****67
    reason VARCHAR NOT NULL,         -- hard_bounce | complaint | unsubscribed | manual
    source VARCHAR NOT NULL,         -- api | bounce | fbl | one_click | import | ...
    send_id VARCHAR,                 -- the send that caused it, when one did
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, kind, value_hash)
);

CREATE TABLE promo_pools (
    workspace_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,             -- pool_...
    name VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,           -- generated | imported
    prefix VARCHAR NOT NULL DEFAULT '',
    length INTEGER NOT NULL,         -- random characters of generated codes (check char apart)
    expires_at TIMESTAMPTZ,          -- default expiry of the pool's codes
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

-- One row per code. A code is issued at most once (issued_at set once, in the writer, by a
-- set-based claim); at most one code per (pool, message, contact).
CREATE TABLE promo_codes (
    workspace_id VARCHAR NOT NULL,
    pool_id VARCHAR NOT NULL,
    code VARCHAR NOT NULL,           -- upper case, as typed at checkout
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    contact_id BIGINT,               -- set when issued
    message_id VARCHAR,
    send_id VARCHAR,
    issued_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, code)
);
