-- L1's flush runs get a table of their own, with an index on the contact.
--
-- The first timeline page of a contact that may have events in L1 (a fifth to a third of
-- the bench store's contacts) read them by scanning: each flush run spans every contact,
-- so zone maps kept 4-6 of L1's row groups at 1M rows (p50 ~4.4 ms, ~6.7 ms of CPU on two
-- threads). Probing an index takes ~2.1 ms (contacts/queries.py `_l1_rows`, session 20).
-- An index over all of L1 would grow with it (~5M rows at 50M events), and a checkpoint
-- after L1 changed rewrites an index whole: +25-30 ms per million rows. So flushes now land
-- in `events_l1_runs` (at most `l1_max_runs` runs of 10k rows before an L1 pass sorts
-- them into `events_l1`), which alone is indexed; `events_l1` keeps only sorted passes,
-- which zone maps prune to a row group or two. The rows already in L1 may be runs (they
-- were all in `events_l1`), so they move to the runs, to be sorted back by the next L1
-- pass (a store holds ~10% of its events in L1 at most: 1M rows took ~3 s here).
CREATE TABLE events_l1_runs AS SELECT * FROM events_l1;
DELETE FROM events_l1;
CREATE INDEX events_l1_runs_contact ON events_l1_runs (contact_id);
CREATE OR REPLACE VIEW all_events AS
    SELECT * FROM events
    UNION ALL SELECT * FROM events_l1
    UNION ALL SELECT * FROM events_l1_runs
    UNION ALL SELECT * FROM events_recent;
