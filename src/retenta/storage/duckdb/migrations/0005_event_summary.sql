-- Per-contact summary of the compacted event tiers (events_l1 + events): the newest
-- event's time and the Product Viewed count per category, so a profile reads neither
-- tier's JSON (storage/duckdb/event_summary.py keeps it exact through flushes, range
-- passes, bulk appends and erasure; rows of one contact are folded by range passes).
CREATE TABLE event_summary (
    workspace_id VARCHAR NOT NULL,
    contact_id BIGINT NOT NULL,
    last_at TIMESTAMPTZ,
    categories VARCHAR[] NOT NULL,
    views BIGINT[] NOT NULL
);

-- Backfill from the events already compacted (the same fold as event_summary.add_events):
-- every tier but events_recent. On a fresh database this runs before 0007 creates
-- events_l1, so the tiers are read through all_events (whatever it unions at this point)
-- less the rows of events_recent (messageIds are unique per workspace).
INSERT INTO event_summary (workspace_id, contact_id, last_at, categories, views)
SELECT workspace_id, contact_id, max(last_at) AS last_at,
    coalesce(list(category ORDER BY category) FILTER (WHERE category IS NOT NULL AND views > 0),
             []) AS categories,
    coalesce(list(views ORDER BY category) FILTER (WHERE category IS NOT NULL AND views > 0),
             []) AS views
FROM (
    SELECT workspace_id, contact_id, category, sum(views)::BIGINT AS views,
        max(last_at) AS last_at
    FROM (
        SELECT workspace_id, contact_id, timestamp AS last_at,
            CASE WHEN event = 'Product Viewed' THEN properties ->> 'category' END AS category,
            CAST(event = 'Product Viewed' AS BIGINT) AS views
        FROM all_events AS e
        WHERE NOT EXISTS (SELECT 1 FROM events_recent AS r
                          WHERE r.workspace_id = e.workspace_id AND r.message_id = e.message_id)
    ) AS p GROUP BY ALL
) AS c
GROUP BY workspace_id, contact_id
ORDER BY contact_id;
