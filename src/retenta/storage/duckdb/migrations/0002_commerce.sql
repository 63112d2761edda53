-- E-commerce entities. Money is DECIMAL(18,2) in the row's currency.
CREATE TABLE products (
    workspace_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    name VARCHAR,
    url VARCHAR,
    image_url VARCHAR,
    price DECIMAL(18, 2),
    sale_price DECIMAL(18, 2),
    currency VARCHAR,
    stock INTEGER,
    in_stock BOOLEAN,
    category_path VARCHAR[],         -- e.g. ['Women', 'Shoes', 'Sneakers']
    brand VARCHAR,
    attributes JSON NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, sku)
);

CREATE TABLE orders (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    status VARCHAR NOT NULL,         -- placed | paid | shipped | returned | cancelled
    channel VARCHAR NOT NULL DEFAULT 'online',   -- online | offline (store) | call_centre
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
    PRIMARY KEY (workspace_id, order_id)
);
CREATE INDEX orders_contact ON orders (contact_id);

CREATE TABLE order_items (
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
    PRIMARY KEY (workspace_id, order_id, line_no)
);

CREATE TABLE order_status_history (
    workspace_id VARCHAR NOT NULL,
    order_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    source_message_id VARCHAR
);

-- The contact's current cart (one open cart per contact; converted/abandoned kept).
CREATE TABLE carts (
    workspace_id VARCHAR NOT NULL,
    cart_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    status VARCHAR NOT NULL,         -- open | converted | emptied
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, cart_id)
);
CREATE INDEX carts_contact ON carts (contact_id);

CREATE TABLE cart_items (
    workspace_id VARCHAR NOT NULL,
    cart_id VARCHAR NOT NULL,
    sku VARCHAR NOT NULL,
    quantity INTEGER NOT NULL,
    price DECIMAL(18, 2),
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, cart_id, sku)
);

CREATE TABLE wishlist_items (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    sku VARCHAR NOT NULL,
    wishlist VARCHAR NOT NULL DEFAULT 'default',
    added_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, contact_id, wishlist, sku)
);

CREATE TABLE searches (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    query VARCHAR NOT NULL,
    results INTEGER,
    searched_at TIMESTAMPTZ NOT NULL,
    message_id VARCHAR
);

-- Custom data tables (like ExpertSender's data tables): user-defined columns, rows
-- linked to a contact and/or a product.
CREATE TABLE custom_tables (
    workspace_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    description VARCHAR,
    columns JSON NOT NULL,           -- [{"name", "type": text|number|integer|boolean|date|datetime, "required"}]
    key_columns VARCHAR[] NOT NULL,  -- upsert key
    link VARCHAR NOT NULL DEFAULT 'contact',   -- contact | product | none
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

CREATE TABLE custom_rows (
    workspace_id VARCHAR NOT NULL,
    table_name VARCHAR NOT NULL,
    row_key VARCHAR NOT NULL,        -- canonical JSON of the key columns
    contact_id BIGINT,
    sku VARCHAR,
    data JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, table_name, row_key)
);
