-- The first timeline page of a contact that may have events in L1 (`events_l1`, a fifth
-- to a third of the bench store's contacts) read them by scanning: L1's flush runs each
-- span every contact, so zone maps kept 4-6 of its row groups at 1M rows (p50 ~4.4 ms, ~6.7 ms of
-- CPU on two threads). Probing this index takes ~2.1 ms (contacts/queries.py `_l1_rows`,
-- session 20). Its cost is on the writer: L1 changes only in compaction steps (a 10k-row
-- flush, a range step), whose COMMIT pays ~13-35 ms more for it, and a checkpoint after L1
-- changed rewrites the index, +25-30 ms per million L1 rows. Rows are untouched.
CREATE INDEX IF NOT EXISTS events_l1_contact ON events_l1 (contact_id);
