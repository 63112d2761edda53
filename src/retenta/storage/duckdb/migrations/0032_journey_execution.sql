-- Durable journey execution (issue #5 item 4, docs/journeys.md "Execution").

-- Editing a live journey with "migrate": one row per saved version that moved (or kept)
-- the runs in flight, with the rule and how many moved or stayed, and why (the version
-- history shows it).
CREATE TABLE journey_migrations (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    to_version INTEGER NOT NULL,
    mode VARCHAR NOT NULL,           -- stay | move
    node_map JSON NOT NULL DEFAULT '{}',
    moved INTEGER NOT NULL,
    stayed INTEGER NOT NULL,
    reasons JSON NOT NULL DEFAULT '{}',  -- {"<why a run stayed>": count}
    "at" TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, journey_id, to_version)
);
