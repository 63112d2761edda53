-- Events stored and acknowledged whose commerce apply is still to run (ingest/deferred.py):
-- written in the acknowledging unit, deleted in the unit that applies them; read at start
-- after a crash. No index: it holds at most a second of events.
CREATE TABLE commerce_pending (
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL
);
