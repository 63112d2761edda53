-- In-app messages and the app inbox, app user verification, retired mobile push tokens
-- (issue #4; messaging/inbox/).

-- One row per in-app send to one contact. `contact_id` is the contact at send time; reads
-- follow contacts.merged_into, so a merged person sees both inboxes. Rows are never removed
-- by the app: "delete" sets deleted_at (the management API still shows them).
CREATE TABLE inbox_messages (
    workspace_id VARCHAR NOT NULL,
    send_id VARCHAR NOT NULL,        -- the send (idempotency: a retried send is stored once)
    contact_id BIGINT NOT NULL,
    title VARCHAR,
    body VARCHAR,
    url VARCHAR,                     -- opened when the message is tapped
    image_url VARCHAR,
    payload JSON NOT NULL DEFAULT '{}',  -- free data for the app (layout, buttons, ...)
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,          -- not listed after this
    read_at TIMESTAMPTZ,             -- first marked read by the app (an `opened` event)
    deleted_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, send_id)
);
CREATE INDEX inbox_messages_contact ON inbox_messages (workspace_id, contact_id);

-- The generation of each workspace's identity-verification secret. The secret itself is
-- derived from the server secret and the generation (never stored); rotating bumps it.
CREATE TABLE inbox_identity_keys (
    workspace_id VARCHAR PRIMARY KEY,
    generation INTEGER NOT NULL,
    rotated_at TIMESTAMPTZ NOT NULL
);

-- Device tokens FCM / APNs called dead (FCM UNREGISTERED, APNs 410 / BadDeviceToken). The
-- identities row stays (identity owns it); a token is live again if it is seen after this.
CREATE TABLE retired_push_tokens (
    workspace_id VARCHAR NOT NULL,
    token VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    send_id VARCHAR,
    retired_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, token)
);
