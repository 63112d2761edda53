-- Automation (issue #5): journeys, their versions, runs and the decision trace
-- (docs/journeys.md).

CREATE TABLE journeys (
    workspace_id VARCHAR NOT NULL,
    id VARCHAR NOT NULL,             -- jny_...
    name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,         -- draft | live | paused | stopped
    version INTEGER NOT NULL,        -- the version new runs start on
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, id)
);

-- Every saved definition; runs keep the version they started on.
CREATE TABLE journey_versions (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    definition JSON NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, journey_id, version)
);

-- One contact's way through one journey. A run id derives from the journey and the
-- triggering event, so the same event can never start the same journey twice.
CREATE TABLE journey_runs (
    run_id VARCHAR PRIMARY KEY,
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    contact_id BIGINT NOT NULL,
    state VARCHAR NOT NULL,          -- active | done | stopped
    node_id VARCHAR NOT NULL,
    node_entered_at TIMESTAMPTZ NOT NULL,
    entered_at TIMESTAMPTZ NOT NULL,
    wake_at TIMESTAMPTZ,             -- due: the runner advances it at or after this time
    waiting_for VARCHAR,             -- an event name that wakes it early
    lease_until TIMESTAMPTZ,         -- claimed by the runner until then
    context JSON NOT NULL DEFAULT '{}',  -- the triggering event: name, properties, time
    finished_at TIMESTAMPTZ
);

-- Why a contact did or did not get something: every decision of every run.
CREATE TABLE journey_trace (
    workspace_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    "at" TIMESTAMPTZ NOT NULL,
    node_id VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,       -- entered | sent | waiting | waited | branch | exit | skipped
    reason VARCHAR NOT NULL
);
