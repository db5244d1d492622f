-- Each user's processed activity per UTC day (events, sessions started, session seconds,
-- monetary value), kept by processing for the churn model and the cohorts, so that neither
-- reads events. Filled from the events already processed once the events file is attached
-- (upkeep 'user_days').

CREATE TABLE user_days (
    user_key        TEXT NOT NULL,
    day             INTEGER NOT NULL,         -- days since 1970-01-01
    events          INTEGER NOT NULL,
    sessions        INTEGER NOT NULL,
    session_seconds REAL NOT NULL,
    amount          REAL NOT NULL,
    PRIMARY KEY (user_key, day)
) WITHOUT ROWID;

INSERT INTO upkeep (name) VALUES ('user_days');
