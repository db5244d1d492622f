-- Failed logins are counted per login and source network, not per account: a lock holds one
-- network back from one login, and a login that names no account is counted like one that does.
-- `login_key` is the account's pseudonym (erasure removes its rows) or a keyed hash of the login.
CREATE TABLE login_attempts (
    login_key       TEXT NOT NULL,
    network         TEXT NOT NULL,              -- the client's address truncated to /24 or /48
    attempts        INTEGER NOT NULL,           -- since the last success or lock
    lockouts        INTEGER NOT NULL DEFAULT 0, -- locks since the last success: each waits longer
    locked_until_us INTEGER,
    last_attempt_us INTEGER NOT NULL,
    PRIMARY KEY (login_key, network)
);
CREATE INDEX login_attempts_last ON login_attempts (last_attempt_us);

ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until_us;
