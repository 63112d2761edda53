-- Web push (issue #4): browser subscriptions and each workspace's VAPID key.

-- One row per browser subscription. A re-subscribe with the same endpoint updates the keys
-- and ids and clears expired_at; a 404/410 from the push service sets expired_at.
CREATE TABLE push_subscriptions (
    workspace_id VARCHAR NOT NULL,
    endpoint VARCHAR NOT NULL,       -- https URL on a known push service
    p256dh VARCHAR NOT NULL,         -- the browser's P-256 public key, base64url
    auth VARCHAR NOT NULL,           -- the 16-octet auth secret, base64url
    contact_id BIGINT,               -- resolved from userId / anonymousId when known
    anonymous_id VARCHAR,
    user_id VARCHAR,
    user_agent VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    last_ok_at TIMESTAMPTZ,          -- last subscribe or accepted push
    expired_at TIMESTAMPTZ,          -- the push service answered 404/410
    PRIMARY KEY (workspace_id, endpoint)
);

-- The workspace's VAPID key pair (EC P-256, PKCS#8 PEM), made on first use.
CREATE TABLE push_vapid_keys (
    workspace_id VARCHAR PRIMARY KEY,
    private_pem VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
