-- Ingested events whose derived entities (orders, carts, journey entries ...) are not yet
-- applied: the writer appends a unit's keys with its events, the apply lane deletes them in
-- the transaction that applies the unit. Rows left after a crash are applied at start-up.
CREATE TABLE apply_pending (
    seq BIGINT NOT NULL,
    workspace_id VARCHAR NOT NULL,
    message_id VARCHAR NOT NULL,
    position INTEGER NOT NULL -- the event's place in its unit: appliers see events in order
);
