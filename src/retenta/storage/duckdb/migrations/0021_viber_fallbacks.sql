-- Viber messages waiting for their outcome, so that the SMS fallback survives a restart
-- (channels/sms/fallback.py). A row is added when Viber accepts a message that has a
-- fallback text; a delivered/read status closes it; a rejected/undeliverable status or the
-- deadline (the Viber TTL) claims it (state pending → sending, once) and the SMS goes out.
CREATE TABLE viber_fallbacks (
    workspace_id VARCHAR NOT NULL,
    send_id VARCHAR NOT NULL,
    sms_channel VARCHAR NOT NULL,    -- the name of the workspace's SMS channel settings
    to_number VARCHAR NOT NULL,      -- E.164
    text VARCHAR NOT NULL,           -- the fallback SMS text
    sender VARCHAR,                  -- SMS sender; NULL: the SMS channel's default
    remote_id VARCHAR,               -- the Viber provider's message id
    deadline TIMESTAMPTZ NOT NULL,   -- no delivery by then: fall back
    state VARCHAR NOT NULL,          -- pending | sending | delivered | fallback_sent | fallback_failed
    reason VARCHAR,                  -- why it fell back / how the SMS went
    sms_remote_id VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, send_id)
);
