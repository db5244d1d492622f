-- Erasure and anonymisation find a user's cluster assignment by pseudonym alone.
CREATE INDEX cluster_assignments_user ON cluster_assignments (user_key);
