-- Anonymous ids (a browser's or a device's, as the Segment and PostHog SDKs send them) linked to
-- the user they turned out to be: events that name only the anonymous id are stored under the
-- user. The latest link of an anonymous id wins.
CREATE TABLE identity_links (
    anonymous_key TEXT PRIMARY KEY,
    anonymous_id  TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    linked_at_us  BIGINT NOT NULL
);
CREATE INDEX identity_links_user ON identity_links (user_id);
