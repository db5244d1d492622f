//! Profiles and segmentation runs.

use async_trait::async_trait;

use super::PostgresStore;
use crate::SegmentStore;
use crate::error::StoreResult;
use crate::model::*;

#[async_trait]
impl SegmentStore for PostgresStore {
    async fn profile_states(&self, user_keys: &[String]) -> StoreResult<Vec<ProfileStateRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_key, state, updated_at_us FROM profile_state WHERE user_key = ANY($1::text[])",
                &[&user_keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ProfileStateRecord { user_key: row.get(0), state: row.get(1), updated_at_us: row.get(2) })
            .collect())
    }

    async fn all_profile_states(&self, after_key: &str, limit: u32) -> StoreResult<Vec<ProfileStateRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_key, state, updated_at_us FROM profile_state WHERE user_key > $1 ORDER BY user_key LIMIT $2",
                &[&after_key, &i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ProfileStateRecord { user_key: row.get(0), state: row.get(1), updated_at_us: row.get(2) })
            .collect())
    }

    async fn save_cluster_run(&self, run: ClusterRun, assignments: Vec<ClusterAssignment>) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // One run at a time across nodes: a concurrent run's assignments would otherwise survive.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('cluster_runs'))", &[]).await?;
        tx.execute("DELETE FROM cluster_assignments", &[]).await?;
        tx.execute(
            "INSERT INTO cluster_runs (run_id, created_at_us, k, silhouette, n_users, model) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&run.run_id, &run.created_at_us, &run.k, &run.silhouette, &run.n_users, &run.model],
        )
        .await?;
        for chunk in assignments.chunks(10_000) {
            let keys: Vec<&str> = chunk.iter().map(|a| a.user_key.as_str()).collect();
            let clusters: Vec<i64> = chunk.iter().map(|a| a.cluster).collect();
            let distances: Vec<f64> = chunk.iter().map(|a| a.distance).collect();
            let xs: Vec<f64> = chunk.iter().map(|a| a.x).collect();
            let ys: Vec<f64> = chunk.iter().map(|a| a.y).collect();
            let placed: Vec<bool> = chunk.iter().map(|a| a.placed).collect();
            tx.execute(
                "INSERT INTO cluster_assignments (run_id, user_key, cluster, distance, x, y, placed)
                 SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::float8[], $5::float8[], $6::float8[], $7::bool[])",
                &[&run.run_id, &keys, &clusters, &distances, &xs, &ys, &placed],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cluster_runs(&self, limit: u32) -> StoreResult<Vec<ClusterRun>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT run_id, created_at_us, k, silhouette, n_users, model FROM cluster_runs
                 ORDER BY created_at_us DESC, run_id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ClusterRun {
                run_id: row.get(0),
                created_at_us: row.get(1),
                k: row.get(2),
                silhouette: row.get(3),
                n_users: row.get(4),
                model: row.get(5),
            })
            .collect())
    }

    async fn cluster_assignment(&self, run_id: &str, user_key: &str) -> StoreResult<Option<ClusterAssignment>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT user_key, cluster, distance, x, y, placed FROM cluster_assignments WHERE run_id = $1 AND user_key = $2",
                &[&run_id, &user_key],
            )
            .await?;
        Ok(row.map(|row| ClusterAssignment {
            user_key: row.get(0),
            cluster: row.get(1),
            distance: row.get(2),
            x: row.get(3),
            y: row.get(4),
            placed: row.get(5),
        }))
    }

    async fn place_in_cluster_run(&self, run_id: &str, assignment: ClusterAssignment) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The lock `save_cluster_run` takes: a run saved meanwhile cannot be given a stale row.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('cluster_runs'))", &[]).await?;
        let inserted = tx
            .execute(
                "INSERT INTO cluster_assignments (run_id, user_key, cluster, distance, x, y, placed)
                 SELECT $1::text, $2::text, $3::int8, $4::float8, $5::float8, $6::float8, TRUE
                 WHERE $1::text = (SELECT run_id FROM cluster_runs ORDER BY created_at_us DESC, run_id DESC LIMIT 1)
                 ON CONFLICT (run_id, user_key) DO NOTHING",
                &[
                    &run_id,
                    &assignment.user_key,
                    &assignment.cluster,
                    &assignment.distance,
                    &assignment.x,
                    &assignment.y,
                ],
            )
            .await?;
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn count_profile_states(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let count: i64 = client.query_one("SELECT count(*) FROM profile_state", &[]).await?.get(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn cluster_members(&self, run_id: &str, cluster: i64, limit: u32) -> StoreResult<Vec<ClusterAssignment>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_key, cluster, distance, x, y, placed FROM cluster_assignments WHERE run_id = $1 AND cluster = $2
                 ORDER BY distance, user_key LIMIT $3",
                &[&run_id, &cluster, &i64::from(limit)],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ClusterAssignment {
                user_key: row.get(0),
                cluster: row.get(1),
                distance: row.get(2),
                x: row.get(3),
                y: row.get(4),
                placed: row.get(5),
            })
            .collect())
    }
}
