-- Every version of a user's declared profile (AES-256-GCM encrypted JSON), newest last.

CREATE TABLE profile_versions (
    id            BIGSERIAL PRIMARY KEY,
    user_id       TEXT NOT NULL,
    version       BIGINT NOT NULL,
    profile_enc   TEXT NOT NULL,
    changed_by    TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    UNIQUE (user_id, version)
);
