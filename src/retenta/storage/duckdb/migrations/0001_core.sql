-- Core schema: tenancy, contacts, identities, events, dead letters, merges, consent.
CREATE SEQUENCE contact_id_seq START 1;
CREATE SEQUENCE merge_id_seq START 1;
CREATE SEQUENCE dead_letter_id_seq START 1;

CREATE TABLE workspaces (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    settings JSON NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Keys are stored as SHA-256 of the secret; the secret is shown once at creation.
CREATE TABLE api_keys (
    id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,           -- 'write' (ingestion) | 'api' (management)
    name VARCHAR NOT NULL,
    prefix VARCHAR NOT NULL,         -- first characters, to recognise a key in lists
    secret_hash VARCHAR NOT NULL UNIQUE,
    scopes VARCHAR[] NOT NULL DEFAULT [],
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);

CREATE TABLE users (
    id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    email VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    role VARCHAR NOT NULL,           -- admin | marketer | analyst
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, email)
);

CREATE TABLE contacts (
    workspace_id VARCHAR NOT NULL,
    id BIGINT NOT NULL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ,
    merged_into BIGINT,              -- set when this contact was merged away
    attributes JSON NOT NULL DEFAULT '{}',
    provenance JSON NOT NULL DEFAULT '{}',  -- attribute -> {source, at, message_id}
    language VARCHAR,
    timezone VARCHAR,
    erased_at TIMESTAMPTZ
);
CREATE INDEX contacts_ws ON contacts (workspace_id);

-- Identifier -> contact. Types: external_id, email, phone, anonymous_id, push_token, custom:<name>.
CREATE TABLE identities (
    workspace_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    first_seen TIMESTAMPTZ NOT NULL,
    last_seen TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, type, value)
);
CREATE INDEX identities_contact ON identities (contact_id);

-- Erased people: hashes of their identifiers so re-sent old events do not re-create them.
CREATE TABLE suppressed_identifiers (
    workspace_id VARCHAR NOT NULL,
    type VARCHAR NOT NULL,
    value_hash VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, type, value_hash)
);

-- Exact messageId dedup per workspace.
CREATE TABLE message_ids (
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    PRIMARY KEY (workspace_id, message_id)
);

-- Events: `contact_id` is the contact the event resolved to when it arrived; merges
-- never rewrite events, they link contacts (contacts.merged_into), so a timeline is
-- the union over a contact and everything merged into it.
-- Two tiers: `events_recent` takes appends; compaction moves it into `events`
-- sorted by (contact_id, timestamp), so zone maps make per-contact reads ~1 ms.
CREATE TABLE events (
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    type VARCHAR NOT NULL,           -- identify | track | page | screen | group | alias
    event VARCHAR,                   -- track name, or page/screen name
    user_id VARCHAR,
    anonymous_id VARCHAR,
    timestamp TIMESTAMPTZ NOT NULL,  -- skew-corrected
    original_timestamp TIMESTAMPTZ,
    sent_at TIMESTAMPTZ,
    received_at TIMESTAMPTZ NOT NULL,
    properties JSON,
    traits JSON,
    context JSON,
    source VARCHAR                   -- api | import | demo | system
);
CREATE TABLE events_recent AS SELECT * FROM events WITH NO DATA;
CREATE VIEW all_events AS SELECT * FROM events UNION ALL SELECT * FROM events_recent;

CREATE TABLE dead_letters (
    id BIGINT PRIMARY KEY DEFAULT nextval('dead_letter_id_seq'),
    workspace_id VARCHAR NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    endpoint VARCHAR NOT NULL,
    payload JSON NOT NULL,
    errors JSON NOT NULL,
    status VARCHAR NOT NULL DEFAULT 'pending',   -- pending | replayed | discarded
    resolved_at TIMESTAMPTZ
);

CREATE TABLE merges (
    id BIGINT PRIMARY KEY DEFAULT nextval('merge_id_seq'),
    workspace_id VARCHAR NOT NULL,
    merged_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    winner_id BIGINT NOT NULL,
    loser_id BIGINT NOT NULL,
    rule VARCHAR NOT NULL,
    trigger_message_id VARCHAR,
    inputs JSON NOT NULL,            -- the identifiers that linked the two
    snapshot JSON NOT NULL,          -- both contacts and their identities before the merge
    reverted_at TIMESTAMPTZ
);

CREATE TABLE identity_events (       -- takeovers, rejected identifiers, limits hit
    workspace_id VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    kind VARCHAR NOT NULL,
    contact_id BIGINT,
    other_contact_id BIGINT,
    identifier_type VARCHAR,
    identifier_value VARCHAR,
    reason VARCHAR,
    message_id VARCHAR
);

CREATE TABLE consents (              -- history; the current state is the latest row
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    channel VARCHAR NOT NULL,        -- email | sms | viber | webpush | mobilepush | ...
    topic VARCHAR NOT NULL DEFAULT '*',
    status VARCHAR NOT NULL,         -- subscribed | unsubscribed | pending
    source VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX consents_contact ON consents (contact_id);
