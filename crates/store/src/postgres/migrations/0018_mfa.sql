-- An account's TOTP second factor (RFC 6238): the secret (encrypted), whether it is active,
-- the last time step accepted (a code is accepted once), and the recovery codes' keyed hashes.
CREATE TABLE mfa_totp (
    user_id        TEXT PRIMARY KEY,
    secret_enc     TEXT NOT NULL,
    active         BOOLEAN NOT NULL,
    last_step      BIGINT NOT NULL,
    recovery       TEXT NOT NULL,            -- JSON array of hashes, each removed once used
    created_at_us  BIGINT NOT NULL
);
