-- The tier an API key's calls count against (keys made before tiers were enforced: unlimited).
ALTER TABLE api_keys ADD COLUMN tier TEXT NOT NULL DEFAULT 'vip';
