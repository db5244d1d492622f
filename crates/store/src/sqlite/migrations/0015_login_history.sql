-- Each login that passed the password (seed 003's risk-based login): where from (the network,
-- a keyed hash of the device), when, its risk score and reasons, and how it ended.
CREATE TABLE login_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id  TEXT NOT NULL,
    at_us    INTEGER NOT NULL,
    network  TEXT NOT NULL,
    device   TEXT NOT NULL,
    hour     INTEGER NOT NULL,                  -- 0-23, UTC
    outcome  TEXT NOT NULL,                  -- success | challenged | mfa_passed
    score    REAL NOT NULL,
    reasons  TEXT NOT NULL                   -- JSON array of phrases
);
CREATE INDEX login_history_user ON login_history (user_id, id);
