-- The orphan lookup (the restart and lease reconcile, a failed step: ledger.SendLedger.orphans)
-- reads the hand-over records of the sends left `sending` by key, `send_id IN (…)`, an index
-- scan: it joined every record (one per message ever handed over) to find a few. Appends
-- (the journal's copy) keep the index up to date; no row changes.
CREATE INDEX send_handovers_send ON send_handovers (send_id);
