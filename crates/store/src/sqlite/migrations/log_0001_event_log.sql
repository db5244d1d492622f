-- The ingestion log: events are acknowledged once appended here (a small table whose indexes
-- stay in cache), then moved into the primary file's indexed `events` table in large
-- transactions by a background mover. `seq` is the event's place in arrival order, the same
-- number it keeps in `events`.
CREATE TABLE event_log (
    seq         INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL,
    user_key    TEXT NOT NULL,
    message_id  TEXT,
    session_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    properties  TEXT NOT NULL,
    context     TEXT NOT NULL,
    ts_us       INTEGER NOT NULL,
    received_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX event_log_message ON event_log (user_key, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX event_log_user_ts ON event_log (user_key, ts_us);
