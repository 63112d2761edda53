-- Journeys' entry triggers read from durable sources (issue #5, docs/journeys.md "Triggers"):
-- consent changes, list/tag joins and leaves, message events, other journeys' goals, and the
-- time-driven schedule (cron) and date (birthday ± offset) triggers.

-- How far a live journey has read one source. A source is named by the trigger's type and a
-- digest of its settings, so an edited trigger starts a new source from the moment it went live.
-- Log sources re-read the last few minutes below `position` (rows can be recorded with an
-- earlier time than one already read: provider reports, client-stamped consents), never
-- anything before `since`; time-driven sources fire the occurrences in (position, now].
CREATE TABLE journey_source_state (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    source VARCHAR NOT NULL,         -- <trigger type>:<digest of the trigger>
    since TIMESTAMPTZ NOT NULL,      -- when the journey started reading it: nothing earlier
    position TIMESTAMPTZ NOT NULL,   -- read (log) / fired (time-driven) up to this time
    PRIMARY KEY (workspace_id, journey_id, source)
);

-- Entries of log sources already turned into a decision (a run, or a refusal by the entry
-- rules), kept while they can still be re-read: a re-read row is skipped, never decided twice.
-- Rows older than the re-read window are pruned.
CREATE TABLE journey_entry_keys (
    workspace_id VARCHAR NOT NULL,
    journey_id VARCHAR NOT NULL,
    key VARCHAR NOT NULL,            -- the source row's identity (the run id derives from it)
    "at" TIMESTAMPTZ NOT NULL,       -- the source row's time
    PRIMARY KEY (workspace_id, journey_id, key)
);
