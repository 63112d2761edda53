-- The profile reads a contact's event figures from event_summary with the contact id as the
-- branch's only filter (contacts/profile_sql.py). Without an index DuckDB scanned the one
-- row group whose zone map holds the id (122,880 contact ids, ~0.45 ms of CPU); with one it
-- probes the ART (docs/contacts.md, session 9). Non-unique: a contact has one summary row
-- per fold, several until a range pass folds them. ~9 MB of index per 1M contacts.
-- Rows are untouched; the index is built from the rows already there.
CREATE INDEX IF NOT EXISTS event_summary_contact ON event_summary (contact_id);
