-- The profile, the timeline's liveness step and the one-statement first page read the
-- merges naming a contact as winner (`merges WHERE winner_id = ?`). Without an index that
-- is a scan of every merge: nothing in a store with few merges, ~0.9 ms a read with 300,000
-- (against ~0.4 ms with the index, session 10). Merges are written rarely (one row each;
-- unmerge updates reverted_at, not the indexed column). Rows are untouched.
CREATE INDEX IF NOT EXISTS merges_winner ON merges (winner_id);
