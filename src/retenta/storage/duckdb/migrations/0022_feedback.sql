-- Feedback about sent email (issue #4): bounces, complaints, deliveries from DSNs, ARF
-- reports and provider webhooks (docs/messaging-bounces.md).

-- Every report applied once: a webhook retried by its provider, or a DSN delivered twice,
-- finds its key here and changes nothing.
CREATE TABLE feedback_reports (
    workspace_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,         -- dsn | arf | ses | sendgrid | mailgun | mailgun-token
    key VARCHAR NOT NULL,            -- the provider's event id, or a hash of the report + recipient
    kind VARCHAR NOT NULL,           -- hard_bounce | soft_bounce | complaint | delivered | ...
    send_id VARCHAR,
    outcome VARCHAR NOT NULL,        -- applied | unmatched
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, source, key)
);

-- A workspace's provider webhook settings: SES topic ARNs, SendGrid's (public) verification
-- key in `config`; Mailgun's signing key sealed (AES-GCM, the channel settings' SecretBox).
CREATE TABLE feedback_endpoints (
    workspace_id VARCHAR NOT NULL,
    provider VARCHAR NOT NULL,       -- ses | sendgrid | mailgun
    config JSON NOT NULL,
    sealed BLOB,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, provider)
);
