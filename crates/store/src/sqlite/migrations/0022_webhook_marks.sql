-- What each webhook was last told about a subject (a user's side of its churn threshold, an
-- anomaly found), so that a happening is announced once, by one node, when its state changes.
ALTER TABLE webhooks ADD COLUMN churn_threshold REAL;
CREATE TABLE webhook_marks (
    webhook_id TEXT NOT NULL,
    subject    TEXT NOT NULL,
    state      TEXT NOT NULL,
    user_id    TEXT,
    at_us      INTEGER NOT NULL,
    PRIMARY KEY (webhook_id, subject)
);
CREATE INDEX webhook_marks_user ON webhook_marks (user_id);
