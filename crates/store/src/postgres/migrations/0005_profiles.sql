-- Each user's incremental behavioural profile (JSON of footprint_analytics::profile::ProfileState),
-- updated with the sequence counts under the same watermark.

CREATE TABLE profile_state (
    user_key      TEXT PRIMARY KEY,
    state         TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL
);
