-- Each change of an account's tier (seed 003's upgrades and downgrades), oldest first.
CREATE TABLE tier_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    TEXT NOT NULL,
    from_tier  TEXT NOT NULL,
    to_tier    TEXT NOT NULL,
    changed_by TEXT NOT NULL,
    at_us      INTEGER NOT NULL
);
CREATE INDEX tier_changes_user ON tier_changes (user_id, id);
