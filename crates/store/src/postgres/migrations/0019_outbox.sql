-- Messages to users (one-time sign-in codes) as the default sender leaves them: an admin reads
-- them at GET /api/v1/admin/outbox; a deployment plugs a real sender in instead. The recipient
-- and the body are encrypted like every personal field.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    channel       TEXT NOT NULL,             -- email | sms
    recipient_enc TEXT NOT NULL,
    subject       TEXT NOT NULL,
    body_enc      TEXT NOT NULL,
    created_at_us BIGINT NOT NULL
);
CREATE INDEX outbox_user ON outbox (user_id);

-- The pending one-time code of a login's second step by e-mail or SMS (its keyed hash).
CREATE TABLE mfa_codes (
    user_id       TEXT PRIMARY KEY,
    code_hash     TEXT NOT NULL,
    expires_at_us BIGINT NOT NULL
);
