-- Calls to the /api/ml operations (seed 004's GET /api/ml/analytics). No user id is kept.
CREATE TABLE ml_calls (
    id          BIGSERIAL PRIMARY KEY,
    at_us       BIGINT NOT NULL,
    operation   TEXT NOT NULL,
    model_id    TEXT,
    predictions BIGINT NOT NULL,
    duration_us BIGINT NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX ml_calls_at ON ml_calls (at_us);
