-- Segmentation (issue #3), VIEWS: message engagement facts and per-workspace RFM settings.

-- One row per delivery fact of a message sent to a contact (issue #4 appends them; the
-- `message_events` logical view in segments/views.py reads them). `contact_id` is the
-- contact at send time: merges never rewrite rows, the view follows contacts.merged_into.
-- No ART index: rows arrive in bulk appends and segments read them by scans filtered on
-- (workspace_id, status, at); appending in time order keeps zone maps on `at` tight.
CREATE TABLE message_events (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    send_id VARCHAR NOT NULL,        -- one message to one contact (all its facts share it)
    channel VARCHAR NOT NULL,        -- email | sms | viber | webpush | mobilepush | ...
    campaign_id VARCHAR,             -- campaign or journey step that sent it
    message_id VARCHAR,              -- the message (template/content) that was sent
    tags VARCHAR[] NOT NULL DEFAULT [],
    status VARCHAR NOT NULL,         -- queued | sent | delivered | opened | clicked | bounced
                                     -- | complained | failed | unsubscribed | suppressed
    "at" TIMESTAMPTZ NOT NULL,      -- quoted: AT is a keyword in DuckDB
    machine BOOLEAN NOT NULL DEFAULT false,  -- Apple-privacy / security-scanner open or click
    properties JSON NOT NULL DEFAULT '{}'    -- url clicked, bounce code, provider ids, ...
);

-- RFM scoring settings of a workspace (segments/rfm.py RfmConfig as JSON); absent = defaults.
CREATE TABLE rfm_config (
    workspace_id VARCHAR PRIMARY KEY,
    config JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
