-- What the dashboard's overview counts, kept by processing so that no page scans the events:
-- processed events per UTC day and type, distinct active users per day, and each user's active
-- days (one bit per day, 32 days per row) for distinct users over any stretch of days.
-- Filled from the events already processed once the events file is attached (see upkeep).

CREATE TABLE daily_event_counts (
    day_us INTEGER NOT NULL,
    type   TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (day_us, type)
) WITHOUT ROWID;

CREATE TABLE daily_active_users (
    day_us INTEGER PRIMARY KEY,
    users  INTEGER NOT NULL
);

CREATE TABLE user_active_days (
    user_key TEXT NOT NULL,
    period   INTEGER NOT NULL,                -- day number / 32
    days     INTEGER NOT NULL,                -- bit d: the day period * 32 + d
    PRIMARY KEY (user_key, period)
) WITHOUT ROWID;

-- Work a migration leaves for when the events file is attached.
CREATE TABLE upkeep (name TEXT PRIMARY KEY);
INSERT INTO upkeep (name) VALUES ('daily_activity');
