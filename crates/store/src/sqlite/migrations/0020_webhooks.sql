-- Outbound webhooks: the subscriptions, a durable outbox of deliveries (a delivery survives a
-- restart), every attempt, and how far the event log was dispatched.
CREATE TABLE webhooks (
    webhook_id    TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    kinds         TEXT NOT NULL,
    event_types   TEXT NOT NULL,
    secret_enc    TEXT NOT NULL,
    from_seq      INTEGER NOT NULL,
    created_by    TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);
CREATE TABLE webhook_deliveries (
    delivery_id     INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id      TEXT NOT NULL,
    kind            TEXT NOT NULL,
    user_id         TEXT,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_us INTEGER NOT NULL,
    lease_until_us  INTEGER NOT NULL DEFAULT 0,
    created_at_us   INTEGER NOT NULL,
    done_at_us      INTEGER
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_us);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, delivery_id);
CREATE INDEX webhook_deliveries_user ON webhook_deliveries (user_id);
CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    at_us       INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    duration_ms INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
CREATE TABLE webhook_dispatch (
    name      TEXT PRIMARY KEY,
    watermark INTEGER NOT NULL
);
