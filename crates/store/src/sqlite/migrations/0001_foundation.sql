-- Foundation: users and accounts, consent history, events (sessions are derived from
-- them), API keys, audit log, instance secrets. Times are microseconds since the Unix epoch.

CREATE TABLE instance_secrets (
    name          TEXT PRIMARY KEY,
    value         TEXT NOT NULL,
    created_at_us INTEGER NOT NULL
);

CREATE TABLE users (
    user_id       TEXT PRIMARY KEY,
    user_key      TEXT NOT NULL UNIQUE,      -- keyed pseudonym of user_id
    username      TEXT UNIQUE,
    email_enc     TEXT,                      -- AES-256-GCM
    email_index   TEXT UNIQUE,               -- keyed hash of the normalised e-mail
    password_hash TEXT,                      -- argon2id PHC string; NULL = tracked only
    role          TEXT NOT NULL DEFAULT 'user',
    tier          TEXT NOT NULL DEFAULT 'free',
    profile_enc   TEXT,                      -- AES-256-GCM of a JSON object
    first_seen_us INTEGER,                   -- time of the first event seen
    failed_logins INTEGER NOT NULL DEFAULT 0,  -- consecutive failures
    locked_until_us INTEGER,
    created_at_us INTEGER NOT NULL,
    updated_at_us INTEGER NOT NULL
);
CREATE INDEX users_role ON users (role);

CREATE TABLE consents (
    id             INTEGER PRIMARY KEY,
    user_id        TEXT NOT NULL,
    analytics      INTEGER NOT NULL,
    preferences    INTEGER NOT NULL,
    improvement    INTEGER NOT NULL,
    source         TEXT NOT NULL,
    recorded_at_us INTEGER NOT NULL
);
CREATE INDEX consents_user ON consents (user_id, id);

CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: processors follow it
    event_id    TEXT NOT NULL UNIQUE,
    user_key    TEXT NOT NULL,
    message_id  TEXT,
    session_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    properties  TEXT NOT NULL,
    context     TEXT NOT NULL,
    ts_us       INTEGER NOT NULL,
    received_us INTEGER NOT NULL
);
CREATE UNIQUE INDEX events_message ON events (user_key, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_user_ts ON events (user_key, ts_us);
CREATE INDEX events_ts ON events (ts_us);


CREATE TABLE api_keys (
    key_id        TEXT PRIMARY KEY,
    key_hash      TEXT NOT NULL UNIQUE,      -- SHA-256 of the secret; the secret is never stored
    name          TEXT NOT NULL,
    scopes        TEXT NOT NULL,             -- comma-separated
    created_at_us INTEGER NOT NULL,
    revoked_at_us INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at_us   INTEGER NOT NULL,
    action  TEXT NOT NULL,
    actor   TEXT,
    subject TEXT,
    outcome TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_us);
