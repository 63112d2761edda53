-- Derived commerce signals (docs/scenarios.md "Signals"): events no client sends — price
-- dropped, back in stock, replenishment due, win-back due, next best offer — emitted per
-- contact through ingestion with deterministic message ids.

-- How far each pass has read: the catalog pass's position in products_history, and the day
-- each workspace's daily pass last ran. A crash between emitting and moving the cursor only
-- re-emits the same message ids, which ingestion's dedup drops.
CREATE TABLE signal_state (
    workspace_id VARCHAR NOT NULL,   -- '*' for the catalog pass (one cursor over every workspace)
    name VARCHAR NOT NULL,           -- catalog | daily
    position TIMESTAMPTZ,            -- catalog: changes at or before this time were read
    last_run_at TIMESTAMPTZ,
    PRIMARY KEY (workspace_id, name)
);
-- The catalog pass starts from now: changes logged before signals existed are history, not
-- news (a store upgraded with a year of price changes must not mail them all).
INSERT INTO signal_state VALUES ('*', 'catalog', now(), now());

-- A workspace's thresholds (view window, grace after the usual interval, …); absent keys
-- take the defaults of retenta.signals.settings.SignalSettings.
CREATE TABLE signal_settings (
    workspace_id VARCHAR PRIMARY KEY,
    settings JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
