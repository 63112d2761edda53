-- Issue #3: the order summary's sync check without hashing every order and line per count
-- (docs/segments.md "Order summary"). Each `orders` / `order_items` row gets `fp`, its
-- hash as the summary's fingerprint defines it, or NULL; a CHECK makes any other value
-- impossible, so `COALESCE(fp, hash(…))` is the row's hash on every row, whoever wrote it.
-- Writers that change a hashed column set `fp = NULL` (the CHECK refuses the statement
-- otherwise); the fold fills the NULLs. DuckDB cannot add a column with a CHECK, so both
-- tables are rebuilt here with every row (and its hash) copied, in their stored order.
CREATE TABLE orders_0041 (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    status VARCHAR NOT NULL,
    channel VARCHAR NOT NULL DEFAULT 'online',
    store_id VARCHAR,
    total DECIMAL(18, 2) NOT NULL,
    revenue DECIMAL(18, 2),
    discount DECIMAL(18, 2),
    shipping DECIMAL(18, 2),
    tax DECIMAL(18, 2),
    currency VARCHAR,
    coupon VARCHAR,
    placed_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    source_message_id VARCHAR,
    attributes JSON NOT NULL DEFAULT '{}',
    fp UBIGINT,
    PRIMARY KEY (workspace_id, order_id),
    CHECK (fp IS NULL OR fp = hash(order_id, contact_id, status, revenue, total, placed_at))
);
INSERT INTO orders_0041 SELECT workspace_id, order_id, contact_id, status, channel, store_id,
    total, revenue, discount, shipping, tax, currency, coupon, placed_at, updated_at,
    source_message_id, attributes, hash(order_id, contact_id, status, revenue, total, placed_at)
FROM orders;
DROP TABLE orders;
ALTER TABLE orders_0041 RENAME TO orders;
CREATE INDEX orders_contact ON orders (contact_id);

CREATE TABLE order_items_0041 (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    line_no INTEGER NOT NULL,
    sku VARCHAR NOT NULL,
    name VARCHAR,
    category VARCHAR,
    brand VARCHAR,
    quantity INTEGER NOT NULL,
    price DECIMAL(18, 2) NOT NULL,
    returned_quantity INTEGER NOT NULL DEFAULT 0,
    fp UBIGINT,
    PRIMARY KEY (workspace_id, order_id, line_no),
    CHECK (fp IS NULL OR fp = hash(order_id, price, quantity, returned_quantity))
);
INSERT INTO order_items_0041 SELECT workspace_id, order_id, line_no, sku, name, category, brand,
    quantity, price, returned_quantity, hash(order_id, price, quantity, returned_quantity)
FROM order_items;
DROP TABLE order_items;
ALTER TABLE order_items_0041 RENAME TO order_items;
CREATE INDEX order_items_order ON order_items (order_id);
