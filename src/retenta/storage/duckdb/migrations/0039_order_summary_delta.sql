-- Order summary + exact delta (issue #3, docs/segments.md "Order summary"). Stores that
-- applied 0034 before it gained `order_summary_dirty` lack that table: create it here.
CREATE TABLE IF NOT EXISTS order_summary_dirty (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    marked_at TIMESTAMPTZ NOT NULL
);

-- Always empty. A reader's sync check writes the exact figures of the contacts whose orders
-- changed since the last fold into a TEMP table of this name (its own connection, dropped
-- with its transaction), which the compiler's `_order_traits` view reads beside the summary;
-- the temp table shadows this one. Kept so the view also binds on a connection that has not
-- run the check (it then reads the summary alone, as before this migration).
CREATE TABLE order_summary_delta (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    orders BIGINT NOT NULL,
    revenue DECIMAL(38, 2) NOT NULL,
    first_order_at TIMESTAMPTZ,
    last_order_at TIMESTAMPTZ,
    fp HUGEINT NOT NULL
);
