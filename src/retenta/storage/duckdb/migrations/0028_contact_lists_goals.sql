-- Journeys' new nodes (issue #5, docs/journeys.md "Nodes"): contacts' lists and tags, and the
-- goals runs reached.

-- Membership history: one row per stay in a list (or carrying a tag). The current members are
-- the rows with `left_at IS NULL`; at most one such row per (workspace, contact, kind, name).
-- Joining again after leaving adds a new row, so the list trigger can read joins and leaves.
CREATE TABLE contact_lists (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    kind VARCHAR NOT NULL,           -- list | tag
    name VARCHAR NOT NULL,
    joined_at TIMESTAMPTZ NOT NULL,
    left_at TIMESTAMPTZ,             -- NULL while a member
    source VARCHAR NOT NULL          -- journey:<journey id>:<run id>:<node id> | api | import
);
CREATE INDEX contact_lists_contact ON contact_lists (workspace_id, contact_id);
CREATE INDEX contact_lists_name ON contact_lists (workspace_id, kind, name);

-- A run that reached its goal (a goal node, or the journey-level goal event while active).
-- One row per run and goal: the conversion attributed to the journey and its version.
CREATE TABLE journey_goals (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    node_id VARCHAR NOT NULL,        -- the goal node, or "goal" for the journey-level goal
    goal VARCHAR NOT NULL,           -- the goal's name
    event_id VARCHAR,                -- the event that met it (journey-level goal), if any
    "at" TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, node_id)
);
CREATE INDEX journey_goals_journey ON journey_goals (workspace_id, journey_id, "at");

-- Side effects of journey nodes (update_contact, list, goal, webhook), one row per (run, node):
-- the effect id derives from them, so a step replayed after a crash finds its effect done and
-- repeats nothing. Database effects are applied in the unit that inserts their row (`done`);
-- a webhook row waits `pending` until the effects worker has posted it (Idempotency-Key =
-- the effect id), retried with backoff on temporary failures.
CREATE TABLE journey_effects (
    effect_id VARCHAR PRIMARY KEY,   -- snd_j… of (run, node): also the webhook Idempotency-Key
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    node_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,           -- update_contact | list | goal | webhook
    spec JSON NOT NULL,              -- what to do (a webhook: url, method, headers, body)
    status VARCHAR NOT NULL,         -- done | pending | sending | failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ,
    lease_until TIMESTAMPTZ,
    result VARCHAR,                  -- what happened, in words
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
