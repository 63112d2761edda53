-- Sends (issue #4): per-workspace channel settings (secrets sealed with AES-GCM) and the
-- sends ledger every channel goes through (docs/messaging-sends.md).

-- One named configuration of a channel type for a workspace ("email"/"promo", "sms"/"main").
-- `config` holds the non-secret fields; `sealed` the secret ones (AES-GCM, key derived from
-- the server secret with HKDF; the row's identity is the associated data, so a sealed value
-- copied to another row does not open).
CREATE TABLE channel_settings (
    workspace_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,        -- the channel type: email | webpush | sms | viber | fcm | apns | webhook
    name VARCHAR NOT NULL,
    config JSON NOT NULL,
    sealed BLOB,                     -- version byte || nonce || AES-GCM(JSON {path: secret})
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, channel, name)
);

-- One message to one contact, from the request to its final status. A send is claimed by
-- the dispatcher (queued -> sending, attempts + 1, a lease) in one writer unit that commits
-- before any provider sees it.
CREATE TABLE sends (
    send_id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    idempotency_key VARCHAR,         -- unique per workspace (index below); NULL for bulk sends
    request_hash VARCHAR,            -- SHA-256 of the canonical request body
    response JSON,                   -- the first answer, replayed for the same key and body
    contact_id BIGINT NOT NULL,
    channel VARCHAR NOT NULL,        -- the channel being tried now (an entry of `cascade`)
    "cascade" JSON NOT NULL,         -- the channels to try, in order
    cascade_index INTEGER NOT NULL DEFAULT 0,
    message_id VARCHAR NOT NULL,
    message_revision INTEGER,
    versions_used JSON,              -- {block_id: version} of the content actually rendered
    category VARCHAR NOT NULL,       -- transactional | trigger | promo
    topic VARCHAR,
    campaign_id VARCHAR,             -- campaign or journey step (bulk sends)
    language VARCHAR,                -- requested language (overrides the contact's)
    data JSON NOT NULL DEFAULT '{}',
    status VARCHAR NOT NULL,         -- queued | sending | sent | delivered | failed | bounced | suppressed | ...
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    last_error VARCHAR,
    remote_id VARCHAR,               -- the provider's id for the message
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sends_idempotency ON sends (workspace_id, idempotency_key);

-- One row per attempt handed to a provider, committed before the handover (group commits):
-- after a crash, a send left `sending` with no row for its attempt was never handed and is
-- queued again; one with a row follows its channel's restart rule (channels/registry.py).
CREATE TABLE send_handovers (
    send_id VARCHAR NOT NULL,
    attempt INTEGER NOT NULL,
    "at" TIMESTAMPTZ NOT NULL
);
