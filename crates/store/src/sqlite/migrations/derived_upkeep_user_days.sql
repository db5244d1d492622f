-- The activity per user and day of the events processed before the table existed
-- (derived_0007), with the default 30-minute session gap and the first numeric of revenue,
-- amount and total as the monetary value, as processing counts them.
INSERT INTO user_days (user_key, day, events, sessions, session_seconds, amount)
    SELECT user_key, ts_us / 86400000000, count(*),
           sum(CASE WHEN previous IS NULL OR ts_us - previous >= 1800000000 THEN 1 ELSE 0 END),
           sum(CASE WHEN previous IS NOT NULL AND ts_us - previous < 1800000000 THEN (ts_us - previous) / 1e6 ELSE 0 END),
           sum(coalesce(
               CASE WHEN json_type(properties, '$.revenue') IN ('integer', 'real') THEN json_extract(properties, '$.revenue') END,
               CASE WHEN json_type(properties, '$.amount') IN ('integer', 'real') THEN json_extract(properties, '$.amount') END,
               CASE WHEN json_type(properties, '$.total') IN ('integer', 'real') THEN json_extract(properties, '$.total') END,
               0))
    FROM (SELECT user_key, ts_us, properties,
                 lag(ts_us) OVER (PARTITION BY user_key ORDER BY ts_us, seq) AS previous
          FROM store.events
          WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')
            AND json_valid(properties))
    GROUP BY user_key, ts_us / 86400000000;

DELETE FROM upkeep WHERE name = 'user_days';
