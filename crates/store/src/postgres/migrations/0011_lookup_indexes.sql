-- Erasure and anonymisation find a user's cluster assignment by pseudonym alone; insights filter
-- attendance events by organisation.
CREATE INDEX cluster_assignments_user ON cluster_assignments (user_key);
CREATE INDEX attendance_events_organization ON attendance_events (organization_id, start_us);
