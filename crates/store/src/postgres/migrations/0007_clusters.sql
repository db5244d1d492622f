-- Segmentation runs (each kept: when, k, silhouette, how many users, the model) and the
-- assignments of the latest run (older runs' assignments are replaced).

CREATE TABLE cluster_runs (
    run_id        TEXT PRIMARY KEY,
    created_at_us BIGINT NOT NULL,
    k             BIGINT NOT NULL,
    silhouette    DOUBLE PRECISION NOT NULL,
    n_users       BIGINT NOT NULL,
    model         TEXT NOT NULL              -- JSON: features, scaling, centroids, names, projection
);

CREATE TABLE cluster_assignments (
    run_id   TEXT NOT NULL,
    user_key TEXT NOT NULL,
    cluster  BIGINT NOT NULL,
    distance DOUBLE PRECISION NOT NULL,                  -- to the centroid, in standardised units
    x        DOUBLE PRECISION NOT NULL,                  -- the 2-D projection
    y        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, user_key)
);
CREATE INDEX cluster_assignments_cluster ON cluster_assignments (run_id, cluster);
