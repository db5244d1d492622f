-- The daily activity of the events processed before the tables existed (derived_0006).
-- Timestamps are never before 1970, so integer division is the floor.
CREATE TEMP TABLE processed_days AS
    SELECT DISTINCT user_key, ts_us / 86400000000 AS day FROM store.events
    WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences');

INSERT INTO daily_event_counts (day_us, type, events)
    SELECT (ts_us / 86400000000) * 86400000000, type, count(*) FROM store.events
    WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')
    GROUP BY 1, 2;

INSERT INTO daily_active_users (day_us, users)
    SELECT day * 86400000000, count(*) FROM processed_days GROUP BY day;

INSERT INTO user_active_days (user_key, period, days)
    SELECT user_key, day / 32, sum(1 << (day % 32)) FROM processed_days GROUP BY user_key, day / 32;

DROP TABLE temp.processed_days;
DELETE FROM upkeep WHERE name = 'daily_activity';
