-- Users placed in the latest run after it was computed (at the nearest centroid, on demand).
ALTER TABLE cluster_assignments ADD COLUMN placed INTEGER NOT NULL DEFAULT 0;
