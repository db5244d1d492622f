-- The generation of an account's access tokens: a token carries the one it was issued under and
-- is refused once they differ. An account created (or created again after an erasure) gets a
-- random one; accounts from before this migration keep 0, the generation of the tokens they hold.
ALTER TABLE users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
