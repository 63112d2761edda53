-- Cart changes as facts. The ingestion hot path appends the new state of every cart and
-- cart line it changes here (one plain INSERT per unit of work, no index, no conflict
-- check); `carts` / `cart_items` hold the consolidated state, and the writer folds these
-- rows into them in bulk from time to time. Readers use the views below, which overlay
-- the newest change of each key on the consolidated tables.
CREATE TABLE cart_changes (
    workspace_id VARCHAR NOT NULL,
    cart_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    sku VARCHAR,                 -- NULL: the cart row itself (status, created_at, updated_at)
    status VARCHAR,
    created_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    quantity INTEGER,
    price DECIMAL(18, 2),
    added_at TIMESTAMPTZ,
    seq BIGINT NOT NULL          -- write order: the highest per key is the current state
);

-- One row: the token of the last unit of work that changed the writer's cart memory, so
-- the next unit can tell whether that one committed (its token is here) or rolled back.
CREATE TABLE commerce_writer (
    token BIGINT NOT NULL,
    tx BIGINT NOT NULL,
    prev_token BIGINT NOT NULL,
    prev_tx BIGINT NOT NULL
);
INSERT INTO commerce_writer VALUES (0, 0, 0, 0);

CREATE VIEW current_carts AS
SELECT workspace_id, cart_id, contact_id, status, created_at, updated_at FROM carts c
WHERE NOT EXISTS (SELECT 1 FROM cart_changes x WHERE x.sku IS NULL
    AND x.workspace_id = c.workspace_id AND x.cart_id = c.cart_id)
UNION ALL
SELECT workspace_id, cart_id, contact_id, status, created_at, updated_at FROM cart_changes
WHERE sku IS NULL
QUALIFY row_number() OVER (PARTITION BY workspace_id, cart_id ORDER BY seq DESC) = 1;

CREATE VIEW current_cart_items AS
SELECT workspace_id, cart_id, sku, quantity, price, added_at, contact_id FROM cart_items i
WHERE NOT EXISTS (SELECT 1 FROM cart_changes x WHERE x.sku IS NOT NULL
    AND x.workspace_id = i.workspace_id AND x.cart_id = i.cart_id AND x.sku = i.sku)
UNION ALL
SELECT workspace_id, cart_id, sku, quantity, price, added_at, contact_id FROM cart_changes
WHERE sku IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY workspace_id, cart_id, sku ORDER BY seq DESC) = 1;
