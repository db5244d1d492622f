-- Seed 003: each user's processed activity per UTC day (kept by processing for the churn model
-- and the cohorts; filled here from the events already processed, with the default 30-minute
-- session gap and the first numeric of revenue, amount and total as the monetary value),
-- requests per caller and hour, and the runs of the automation jobs (one per job and slot).

CREATE TABLE user_days (
    user_key        TEXT NOT NULL,
    day             BIGINT NOT NULL,
    events          BIGINT NOT NULL,
    sessions        BIGINT NOT NULL,
    session_seconds DOUBLE PRECISION NOT NULL,
    amount          DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (user_key, day)
);

INSERT INTO user_days (user_key, day, events, sessions, session_seconds, amount)
    SELECT user_key, ts_us / 86400000000, count(*),
           sum(CASE WHEN previous IS NULL OR ts_us - previous >= 1800000000 THEN 1 ELSE 0 END),
           sum(CASE WHEN previous IS NOT NULL AND ts_us - previous < 1800000000 THEN (ts_us - previous) / 1e6 ELSE 0 END),
           sum(coalesce(CASE WHEN jsonb_typeof(props -> 'revenue') = 'number' THEN (props ->> 'revenue')::float8 END,
                        CASE WHEN jsonb_typeof(props -> 'amount') = 'number' THEN (props ->> 'amount')::float8 END,
                        CASE WHEN jsonb_typeof(props -> 'total') = 'number' THEN (props ->> 'total')::float8 END, 0))
    FROM (SELECT user_key, ts_us, properties AS props,
                 lag(ts_us) OVER (PARTITION BY user_key ORDER BY ts_us, seq) AS previous
          FROM events
          WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')) AS e
    GROUP BY user_key, ts_us / 86400000000;

CREATE TABLE request_usage (
    caller_key TEXT NOT NULL,
    hour_us    BIGINT NOT NULL,
    requests   BIGINT NOT NULL,
    limited    BIGINT NOT NULL,
    PRIMARY KEY (caller_key, hour_us)
);

CREATE INDEX request_usage_hour ON request_usage (hour_us);

CREATE TABLE automation_runs (
    run_id         TEXT PRIMARY KEY,
    job            TEXT NOT NULL,
    slot_us        BIGINT,
    trigger        TEXT NOT NULL,
    node           TEXT NOT NULL,
    started_at_us  BIGINT NOT NULL,
    finished_at_us BIGINT,
    status         TEXT NOT NULL,
    counts         TEXT NOT NULL,
    report         TEXT,
    error          TEXT
);

CREATE UNIQUE INDEX automation_runs_slot ON automation_runs (job, slot_us) WHERE slot_us IS NOT NULL;
CREATE INDEX automation_runs_started ON automation_runs (started_at_us);

-- Accounts created before their first event were left without a first-seen time (cohorts
-- count users by it): their first stored event's.
UPDATE users SET first_seen_us = (SELECT min(e.ts_us) FROM events e WHERE e.user_key = users.user_key)
WHERE first_seen_us IS NULL;
