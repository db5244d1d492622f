-- What the dashboard's overview counts, kept by processing so that no page scans the events:
-- processed events per UTC day and type, distinct active users per day, and each user's active
-- days (one bit per day, 32 days per row) for distinct users over any stretch of days. Filled
-- here from the events already processed (timestamps are never before 1970, so integer
-- division is the floor).

CREATE TABLE daily_event_counts (
    day_us BIGINT NOT NULL,
    type   TEXT NOT NULL,
    events BIGINT NOT NULL,
    PRIMARY KEY (day_us, type)
);

CREATE TABLE daily_active_users (
    day_us BIGINT PRIMARY KEY,
    users  BIGINT NOT NULL
);

CREATE TABLE user_active_days (
    user_key TEXT NOT NULL,
    period   BIGINT NOT NULL,                 -- day number / 32
    days     BIGINT NOT NULL,                 -- bit d: the day period * 32 + d
    PRIMARY KEY (user_key, period)
);

CREATE TEMP TABLE processed_days ON COMMIT DROP AS
    SELECT DISTINCT user_key, ts_us / 86400000000 AS day FROM events
    WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences');

INSERT INTO daily_event_counts (day_us, type, events)
    SELECT (ts_us / 86400000000) * 86400000000, type, count(*) FROM events
    WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')
    GROUP BY 1, 2;

INSERT INTO daily_active_users (day_us, users)
    SELECT day * 86400000000, count(*) FROM processed_days GROUP BY day;

INSERT INTO user_active_days (user_key, period, days)
    SELECT user_key, day / 32, sum(1::bigint << (day % 32)::int)::bigint FROM processed_days GROUP BY user_key, day / 32;
