-- Exact dedup without an index on message_ids (ingest/dedup.py, ingest/fingerprints.py).
--
-- The ART on h (0047) made the table check of a Bloom filter hit cheap, but DuckDB rewrote
-- its dirty buffers at every checkpoint, and 5,000 random ids dirty nearly all of them:
-- 70 ms a checkpoint at 2M ids, 329 ms at 10M (linear, so ~1.6 s at 50M), and the index
-- stayed resident (+~300 MB RSS at 10M, 700 MB of the 995 MB file). The writer now keeps
-- every id's 52-bit fingerprint in memory (4 bytes an id), which leaves the table to old
-- retries only; those are settled by a join on h (a column scan, ~47 ms at 10M ids).
DROP INDEX IF EXISTS message_ids_h;
