-- Attendance (seed 004): an organiser's events and who registered and came. Operational data
-- (legitimate interest), keyed by the user id; erasure removes a user's registrations.

CREATE TABLE attendance_events (
    event_id         TEXT PRIMARY KEY,
    organization_id  TEXT,
    name             TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    start_us         INTEGER NOT NULL,
    duration_minutes INTEGER NOT NULL,
    location         TEXT,
    capacity         INTEGER,
    price            REAL,
    instructor       TEXT,
    weather          TEXT,                   -- JSON, when given
    created_at_us    INTEGER NOT NULL,
    updated_at_us    INTEGER NOT NULL
);
CREATE INDEX attendance_events_start ON attendance_events (start_us, event_id);

CREATE TABLE attendance_registrations (
    event_id         TEXT NOT NULL REFERENCES attendance_events (event_id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL,
    registered_at_us INTEGER NOT NULL,
    attended         INTEGER,                -- NULL until known, then 0 or 1
    checked_in_at_us INTEGER,
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX attendance_registrations_user ON attendance_registrations (user_id);
