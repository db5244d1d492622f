-- What an organisation declares once for its attendance events: its time zone (events stored
-- without one take it) and the kind of each registration attribute (numeric, categorical,
-- boolean), to which values are converted when they come in.
CREATE TABLE attendance_organizations (
    organization_id TEXT PRIMARY KEY,
    timezone        TEXT,
    attributes      TEXT NOT NULL,
    updated_at_us   BIGINT NOT NULL
);
