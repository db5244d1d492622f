-- How far the ingestion log (the `-log.db` file) has been moved into `events`: log rows with
-- a greater seq are still only in the log. Written in the same transaction as each move.
CREATE TABLE event_log_moved (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL
);
INSERT INTO event_log_moved (id, seq) VALUES (1, 0);
