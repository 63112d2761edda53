-- Mass campaigns (issue #5 item 5, docs/campaigns.md): the campaign, its audience snapshot
-- (one row per recipient with its group and variant, deterministic from the campaign and the
-- contact), and each workspace's global control group share.

CREATE TABLE campaigns (
    workspace_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,             -- cmp_...
    name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,         -- draft | scheduled | sending | paused | sent | cancelled | failed
    definition JSON NOT NULL,        -- the validated document (campaigns/definition.py)
    scheduled_at TIMESTAMPTZ,        -- when the audience is snapshotted and sending starts
    started_at TIMESTAMPTZ,          -- when the audience was snapshotted
    test_ends_at TIMESTAMPTZ,        -- A/B: when the winner is picked
    winner INTEGER,                  -- A/B: the index of the variant sent to the rest
    winner_reason VARCHAR,           -- A/B: the test's outcome in words
    decided_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,         -- every recipient's send handed to the send ledger
    error VARCHAR,                   -- why it could not start (status failed)
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

-- The audience as it was when the campaign started. Written once, in the writer unit that
-- moves the campaign to `sending`.
CREATE TABLE campaign_recipients (
    workspace_id VARCHAR NOT NULL,
    campaign_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    grp VARCHAR NOT NULL,            -- test | rest | send | holdout | control
    variant INTEGER,                 -- index of the message sent (rest: set when decided)
    send_id VARCHAR NOT NULL,        -- snd_c + hash(campaign, contact): one send per recipient
    timezone VARCHAR NOT NULL,       -- the zone its local send time was computed in
    send_at TIMESTAMPTZ,             -- due time in the ledger (rest: set when decided)
    queued_at TIMESTAMPTZ            -- handed to the send ledger
);

CREATE TABLE campaign_settings (
    workspace_id VARCHAR PRIMARY KEY,
    global_control_pct DOUBLE NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
