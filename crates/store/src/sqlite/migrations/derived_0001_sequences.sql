-- Incremental processing: a watermark per processor, the counts of what followed each context
-- (scope '' = all users, else a user's pseudonym), and where each user's sequence stands.

CREATE TABLE processor_state (
    name          TEXT PRIMARY KEY,
    watermark     INTEGER NOT NULL,          -- last events.seq processed
    updated_at_us INTEGER NOT NULL
);

CREATE TABLE sequence_counts (
    scope   TEXT NOT NULL,
    context TEXT NOT NULL,
    next    TEXT NOT NULL,
    count   INTEGER NOT NULL,
    PRIMARY KEY (scope, context, next)
) WITHOUT ROWID;

CREATE TABLE sequence_state (
    user_key    TEXT PRIMARY KEY,
    recent      TEXT NOT NULL,               -- last actions, separated by U+001F
    last_us     INTEGER,
    previous_us INTEGER,
    n_actions   INTEGER NOT NULL
) WITHOUT ROWID;
