-- The contact policy (issue #5): the workspace's rules and the log of every message the
-- policy held back, with the rule that did it (docs/policy.md).
CREATE TABLE contact_policy (
    workspace_id VARCHAR PRIMARY KEY,
    policy JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE policy_log (
    workspace_id VARCHAR NOT NULL,
    send_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    channel VARCHAR NOT NULL,
    category VARCHAR NOT NULL,
    action VARCHAR NOT NULL,         -- defer | drop
    rule VARCHAR NOT NULL,           -- quiet_hours | caps[0] | fatigue[0] ...
    reason VARCHAR NOT NULL,
    until TIMESTAMPTZ,               -- when a deferred message is tried again
    "at" TIMESTAMPTZ NOT NULL
);
