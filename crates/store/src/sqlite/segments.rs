//! Profiles and segmentation runs, in the derived file.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::{DERIVED_WRITE, SqliteStore};
use crate::SegmentStore;
use crate::error::StoreResult;
use crate::model::*;

#[async_trait]
impl SegmentStore for SqliteStore {
    async fn profile_states(&self, user_keys: &[String]) -> StoreResult<Vec<ProfileStateRecord>> {
        let user_keys = user_keys.to_vec();
        self.read(move |conn| {
            let mut stmt =
                conn.prepare_cached("SELECT state, updated_at_us FROM derived.profile_state WHERE user_key = ?1")?;
            let mut records = Vec::new();
            for user_key in user_keys {
                if let Some((state, updated_at_us)) =
                    stmt.query_row([&user_key], |row| Ok((row.get(0)?, row.get(1)?))).optional()?
                {
                    records.push(ProfileStateRecord { user_key, state, updated_at_us });
                }
            }
            Ok(records)
        })
        .await
    }

    async fn all_profile_states(&self, after_key: &str, limit: u32) -> StoreResult<Vec<ProfileStateRecord>> {
        let after_key = after_key.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_key, state, updated_at_us FROM derived.profile_state WHERE user_key > ?1 ORDER BY user_key LIMIT ?2",
            )?;
            let records = stmt
                .query_map(params![after_key, limit], |row| {
                    Ok(ProfileStateRecord { user_key: row.get(0)?, state: row.get(1)?, updated_at_us: row.get(2)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(records)
        })
        .await
    }

    async fn save_cluster_run(&self, run: ClusterRun, assignments: Vec<ClusterAssignment>) -> StoreResult<()> {
        self.write_derived(move |conn| {
            let tx = conn.transaction_with_behavior(DERIVED_WRITE)?;
            tx.execute("DELETE FROM cluster_assignments", [])?;
            tx.execute(
                "INSERT INTO cluster_runs (run_id, created_at_us, k, silhouette, n_users, model) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run.run_id, run.created_at_us, run.k, run.silhouette, run.n_users, run.model],
            )?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO cluster_assignments (run_id, user_key, cluster, distance, x, y, placed) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for a in &assignments {
                    insert.execute(params![run.run_id, a.user_key, a.cluster, a.distance, a.x, a.y, a.placed])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn cluster_runs(&self, limit: u32) -> StoreResult<Vec<ClusterRun>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT run_id, created_at_us, k, silhouette, n_users, model FROM derived.cluster_runs
                 ORDER BY created_at_us DESC, run_id DESC LIMIT ?1",
            )?;
            let runs = stmt
                .query_map([limit], |row| {
                    Ok(ClusterRun {
                        run_id: row.get(0)?,
                        created_at_us: row.get(1)?,
                        k: row.get(2)?,
                        silhouette: row.get(3)?,
                        n_users: row.get(4)?,
                        model: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(runs)
        })
        .await
    }

    async fn cluster_assignment(&self, run_id: &str, user_key: &str) -> StoreResult<Option<ClusterAssignment>> {
        let (run_id, user_key) = (run_id.to_owned(), user_key.to_owned());
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT user_key, cluster, distance, x, y, placed FROM derived.cluster_assignments WHERE run_id = ?1 AND user_key = ?2",
                )?
                .query_row([run_id, user_key], |row| {
                    Ok(ClusterAssignment { user_key: row.get(0)?, cluster: row.get(1)?, distance: row.get(2)?, x: row.get(3)?, y: row.get(4)?, placed: row.get(5)? })
                })
                .optional()?)
        })
        .await
    }

    async fn place_in_cluster_run(&self, run_id: &str, assignment: ClusterAssignment) -> StoreResult<bool> {
        let run_id = run_id.to_owned();
        self.write_derived(move |conn| {
            // Only into the latest run: the single writer orders this against `save_cluster_run`.
            let inserted = conn.execute(
                "INSERT OR IGNORE INTO cluster_assignments (run_id, user_key, cluster, distance, x, y, placed)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, 1
                 WHERE ?1 = (SELECT run_id FROM cluster_runs ORDER BY created_at_us DESC, run_id DESC LIMIT 1)",
                params![
                    run_id,
                    assignment.user_key,
                    assignment.cluster,
                    assignment.distance,
                    assignment.x,
                    assignment.y
                ],
            )?;
            Ok(inserted == 1)
        })
        .await
    }

    async fn count_profile_states(&self) -> StoreResult<u64> {
        self.read(|conn| {
            let count: i64 = conn.query_row("SELECT count(*) FROM derived.profile_state", [], |row| row.get(0))?;
            Ok(u64::try_from(count).unwrap_or(0))
        })
        .await
    }

    async fn cluster_members(&self, run_id: &str, cluster: i64, limit: u32) -> StoreResult<Vec<ClusterAssignment>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_key, cluster, distance, x, y, placed FROM derived.cluster_assignments WHERE run_id = ?1 AND cluster = ?2
                 ORDER BY distance, user_key LIMIT ?3",
            )?;
            let members = stmt
                .query_map(params![run_id, cluster, limit], |row| {
                    Ok(ClusterAssignment { user_key: row.get(0)?, cluster: row.get(1)?, distance: row.get(2)?, x: row.get(3)?, y: row.get(4)?, placed: row.get(5)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(members)
        })
        .await
    }
}
