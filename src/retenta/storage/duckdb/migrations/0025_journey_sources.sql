-- Journeys (issue #5): how far each live journey has read a durable source of entries
-- (segment entries/exits), so an entry is turned into a run exactly once, after restarts too.
CREATE TABLE journey_cursors (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,         -- segment:<segment id>:<entered|exited>
    position TIMESTAMPTZ NOT NULL,   -- entries at or before this time were read
    PRIMARY KEY (workspace_id, journey_id, source)
);
