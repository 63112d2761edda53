-- The writer reads a unit's orders by their ids (the refund read, the status probes, the
-- status/coupon rowid lookups: commerce/refunds.py, commerce/orders.py). The primary key
-- (workspace_id, order_id) has two columns, and DuckDB probes only one-column indexes, so
-- each such read scanned `orders` whole: at 1M orders a unit of 9 refunds read the orders in
-- 5.5 ms of CPU, 8 status probes ~11 ms (docs/commerce.md, session 9 REFUNDS). With an index
-- on order_id alone the read probes it (the workspace is checked on the rows found).
-- `order_returns` had no index at all: its facts are read by order_id the same way.
-- Non-unique (one order id can exist in two workspaces). Rows are untouched; each index is
-- built from the rows already there (~0.2 s of CPU at 1M orders / 10k facts).
CREATE INDEX IF NOT EXISTS orders_order ON orders (order_id);
CREATE INDEX IF NOT EXISTS order_returns_order ON order_returns (order_id);
