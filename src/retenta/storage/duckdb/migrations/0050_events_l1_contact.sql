-- The first timeline page of a contact with events in L1 (`events_l1`, a fifth of the bench
-- store's contacts) read them by scanning: L1's flush runs each span every contact, so zone
-- maps kept 4-6 of its 10 row groups at 1M rows, and fetching the contact's rows from them
-- took 3-8 ms. Probing this index takes ~1.7 ms (session 20). L1 changes only in compaction
-- steps (a flush of 10k rows, a range step): their COMMIT pays ~10 ms more for the index,
-- and a checkpoint rewrites it only after L1 changed. Rows are untouched.
CREATE INDEX IF NOT EXISTS events_l1_contact ON events_l1 (contact_id);
