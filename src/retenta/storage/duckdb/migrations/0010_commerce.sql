-- Commerce columns added after 0006 shipped to development data directories, so each is
-- IF NOT EXISTS: a directory that ran an interim 0006 with them upgrades cleanly.

-- Refunded amount of a return fact (Order Refunded's total/revenue), when known.
ALTER TABLE order_returns ADD COLUMN IF NOT EXISTS amount DECIMAL(18, 2);

-- Where a product's data came from: 'feed' (catalog API, import) or 'event' (filled from
-- e-commerce events until the feed knows it). Events never overwrite feed data.
ALTER TABLE products ADD COLUMN IF NOT EXISTS source VARCHAR DEFAULT 'feed';

-- The contact of a cart line, so a batch reads its contacts' carts by integer filters
-- instead of joins over string keys.
ALTER TABLE cart_items ADD COLUMN IF NOT EXISTS contact_id BIGINT;
