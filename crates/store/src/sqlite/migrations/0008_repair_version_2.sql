-- Version 2 of this file once created the sequence tables, which now live in the derived file
-- (it rebuilds them from the events). A store created then has version 2 recorded, so it never
-- ran 0002_retention_models: this creates what that skipped, and drops the tables left behind
-- (they hold pseudonyms that erasure would no longer reach). A no-op on every other store.
CREATE TABLE IF NOT EXISTS metric_aggregates (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    day_us        INTEGER NOT NULL,
    stats         TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_aggregates_kind_day ON metric_aggregates (kind, day_us);

CREATE TABLE IF NOT EXISTS models (
    model_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    model_type      TEXT NOT NULL,
    version         INTEGER NOT NULL,
    status          TEXT NOT NULL,
    hyperparameters TEXT NOT NULL,
    data_window     TEXT NOT NULL,
    metrics         TEXT NOT NULL,
    parameters      TEXT NOT NULL,
    rows_used       INTEGER NOT NULL,
    error           TEXT,
    predictions     INTEGER NOT NULL DEFAULT 0,
    created_at_us   INTEGER NOT NULL,
    trained_at_us   INTEGER,
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS models_status ON models (status);

DROP TABLE IF EXISTS sequence_counts;
DROP TABLE IF EXISTS sequence_state;
DROP TABLE IF EXISTS processor_state;

-- Attendance events are filtered by organisation (insights).
CREATE INDEX IF NOT EXISTS attendance_events_organization ON attendance_events (organization_id, start_us);
