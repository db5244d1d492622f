-- Erased users: a keyed hash of the erased id (neither the id nor its pseudonym) and the date,
-- so that events arriving later for that id are refused until consent is given again.

CREATE TABLE erasures (
    tombstone    TEXT PRIMARY KEY,
    erased_at_us BIGINT NOT NULL
);
