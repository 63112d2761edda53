-- Consent flows (issue #4): double opt-in proofs, the workspace's topics, and the
-- preferences a contact sets in the preference centre (docs/messaging-consent.md).

-- Evidence of each confirmed opt-in (GDPR art. 7(1): the controller must be able to show
-- consent was given): when it was asked, when and from where it was confirmed.
CREATE TABLE consent_proofs (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    channel VARCHAR NOT NULL,
    topics VARCHAR[] NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ NOT NULL,
    source VARCHAR NOT NULL,         -- where the request came from: form name, api, import
    ip VARCHAR,
    user_agent VARCHAR,
    token_hash VARCHAR NOT NULL,     -- sha256 of the confirmation token (each confirms once)
    PRIMARY KEY (workspace_id, token_hash)
);

-- Topics a contact can subscribe to separately ("news", "promo", "back_in_stock").
CREATE TABLE consent_topics (
    workspace_id VARCHAR NOT NULL,
    topic VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR NOT NULL DEFAULT '',
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, topic)
);

-- How often a contact wants marketing messages (the contact policy reads it).
CREATE TABLE contact_preferences (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    frequency VARCHAR NOT NULL,      -- any | weekly | monthly
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, contact_id)
);
