-- Aggregates that outlive the raw events they were folded from (retention keeps metrics), and
-- the model registry. Aggregates hold no user id nor pseudonym: only additive statistics.

CREATE TABLE metric_aggregates (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,             -- e.g. 'match'
    day_us        BIGINT NOT NULL,          -- start of the UTC day the folded events belong to
    stats         TEXT NOT NULL,             -- JSON of additive statistics
    created_at_us BIGINT NOT NULL
);
CREATE INDEX metric_aggregates_kind_day ON metric_aggregates (kind, day_us);

CREATE TABLE models (
    model_id        TEXT PRIMARY KEY,
    name            TEXT NOT NULL,           -- e.g. 'match_optimizer'
    model_type      TEXT NOT NULL,           -- e.g. 'logistic_regression'
    version         BIGINT NOT NULL,
    status          TEXT NOT NULL,           -- training | ready | error
    hyperparameters TEXT NOT NULL,           -- JSON
    data_window     TEXT NOT NULL,           -- JSON
    metrics         TEXT NOT NULL,           -- JSON
    parameters      TEXT NOT NULL,           -- JSON: what predicting needs
    rows_used       BIGINT NOT NULL,
    error           TEXT,
    predictions     BIGINT NOT NULL DEFAULT 0,
    created_at_us   BIGINT NOT NULL,
    trained_at_us   BIGINT,
    UNIQUE (name, version)
);
CREATE INDEX models_status ON models (status);
