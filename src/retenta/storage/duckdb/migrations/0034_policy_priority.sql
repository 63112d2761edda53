-- The contact policy's priorities (issue #5 item 6, docs/policy.md): a held message logs the
-- priority it had and, when a higher-priority message pre-empted it, that message's send id.
ALTER TABLE policy_log ADD COLUMN priority INTEGER;
ALTER TABLE policy_log ADD COLUMN displaced_by VARCHAR;

-- Each raw contact's order figures for segment traits (issue #3, docs/segments.md "Order
-- summary"): kept orders, their money (exact DECIMAL), first and last order, and `fp`, the
-- sum of the hashes of every orders / order_items row it was computed from. The compiler
-- reads it only while the sum of `fp` equals the live rows' hash sum (segments/order_summary.py).
-- One row with contact_id NULL holds the hashes of order lines whose order is missing.
CREATE TABLE order_summary (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT,
    orders BIGINT NOT NULL,
    revenue DECIMAL(38, 2) NOT NULL,
    first_order_at TIMESTAMPTZ,
    last_order_at TIMESTAMPTZ,
    fp HUGEINT NOT NULL
);

-- Orders the commerce writer changed since the summary last saw them (folded by compaction).
CREATE TABLE order_summary_dirty (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    marked_at TIMESTAMPTZ NOT NULL
);
