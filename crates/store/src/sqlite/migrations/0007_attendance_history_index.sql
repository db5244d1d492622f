-- A user's attendance history (counts of known outcomes before a time) read from the index
-- alone; it replaces the index on user_id, its prefix.
CREATE INDEX attendance_registrations_history ON attendance_registrations (user_id, attended, event_id);
DROP INDEX attendance_registrations_user;
