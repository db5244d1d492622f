-- Seed 003: requests per caller and hour (usage against the tiers' limits), and the runs of
-- the automation jobs, one per job and scheduled slot (the lease across nodes).

CREATE TABLE request_usage (
    caller_key TEXT NOT NULL,                 -- a user's pseudonym, or key:<api key id>
    hour_us    INTEGER NOT NULL,
    requests   INTEGER NOT NULL,
    limited    INTEGER NOT NULL,
    PRIMARY KEY (caller_key, hour_us)
) WITHOUT ROWID;

CREATE INDEX request_usage_hour ON request_usage (hour_us);

CREATE TABLE automation_runs (
    run_id         TEXT PRIMARY KEY,
    job            TEXT NOT NULL,
    slot_us        INTEGER,
    trigger        TEXT NOT NULL,
    node           TEXT NOT NULL,
    started_at_us  INTEGER NOT NULL,
    finished_at_us INTEGER,
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
