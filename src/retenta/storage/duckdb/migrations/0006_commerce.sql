-- Commerce additions: catalog change log and order returns. No ART indexes: these are
-- appended in bulk and read by scans/joins, where DuckDB's zone maps do the work.

-- Every change of a watched catalog field (price, sale_price, stock, in_stock), so
-- back-in-stock and price-drop triggers can ask "what changed since T".
CREATE TABLE products_history (
    workspace_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    field VARCHAR NOT NULL,
    old VARCHAR,
    new VARCHAR,
    changed_at TIMESTAMPTZ NOT NULL
);

-- Returns as facts (one row per refund event or imported figure); the
-- order_items.returned_quantity column is derived from these, which keeps refunds
-- idempotent and independent of the order in which events arrive.
-- sku NULL = the whole order; quantity NULL = every unit of that sku.
CREATE TABLE order_returns (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    sku VARCHAR,
    quantity INTEGER,
    returned_at TIMESTAMPTZ NOT NULL,
    source_message_id VARCHAR    -- 'import' for figures loaded by upsert_orders
);
