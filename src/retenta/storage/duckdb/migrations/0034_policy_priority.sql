-- The contact policy's priorities (issue #5 item 6, docs/policy.md): a held message logs the
-- priority it had and, when a higher-priority message pre-empted it, that message's send id.
ALTER TABLE policy_log ADD COLUMN priority INTEGER;
ALTER TABLE policy_log ADD COLUMN displaced_by VARCHAR;
