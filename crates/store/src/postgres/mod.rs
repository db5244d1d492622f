//! The PostgreSQL backend: a deadpool connection pool; batches are written with one
//! `INSERT … SELECT FROM unnest(…)` per table. Several nodes may share one database: event
//! batches commit one at a time (a transaction-scoped advisory lock), so sessions and
//! idempotency are judged on a consistent view and `seq` follows commit order.
//!
//! This module opens the store, runs the migrations and holds the advisory locks the areas
//! share; each area's trait is implemented in the module of that name.

mod accounts;
mod attendance;
mod events;
mod insights;
mod privacy;
mod registry;
mod rows;
mod security;
mod segments;
mod sequences;
mod webhooks;

use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::error::{StoreError, StoreResult};
use crate::{Store, now_us};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_sequences.sql")),
    (3, include_str!("migrations/0003_retention_models.sql")),
    (4, include_str!("migrations/0004_erasures.sql")),
    (5, include_str!("migrations/0005_profiles.sql")),
    (6, include_str!("migrations/0006_profile_versions.sql")),
    (7, include_str!("migrations/0007_clusters.sql")),
    (8, include_str!("migrations/0008_attendance.sql")),
    (9, include_str!("migrations/0009_ml_calls.sql")),
    (10, include_str!("migrations/0010_attendance_history_index.sql")),
    (11, include_str!("migrations/0011_lookup_indexes.sql")),
    (12, include_str!("migrations/0012_token_generation.sql")),
    (13, include_str!("migrations/0013_login_attempts.sql")),
    (14, include_str!("migrations/0014_cluster_placed.sql")),
    (15, include_str!("migrations/0015_daily_activity.sql")),
    (16, include_str!("migrations/0016_tier_changes.sql")),
    (17, include_str!("migrations/0017_api_key_tier.sql")),
    (18, include_str!("migrations/0018_mfa.sql")),
    (19, include_str!("migrations/0019_outbox.sql")),
    (20, include_str!("migrations/0020_login_history.sql")),
    (21, include_str!("migrations/0021_insights.sql")),
    (22, include_str!("migrations/0022_attendance_attributes.sql")),
    (23, include_str!("migrations/0023_attendance_organizations.sql")),
    (24, include_str!("migrations/0024_identity_links.sql")),
    (25, include_str!("migrations/0025_webhooks.sql")),
    (26, include_str!("migrations/0026_webhook_marks.sql")),
];
/// Held while migrating so that nodes starting together migrate once.
const MIGRATION_LOCK: i64 = 0x666f_6f74_7072_696e;
/// Held by each ingestion transaction (see `commit_events` in `events.rs`).
const INGEST_LOCK: i64 = 0x666f_6f74_696e_6765;
/// Serialises processing commits with erasure and anonymisation across nodes: a batch computed
/// before an erasure commits after it, and then finds the user gone.
const PROCESSING_LOCK: i64 = 0x666f_6f74_7072_6f63;

#[derive(Debug, Clone)]
pub struct PostgresOptions {
    pub pool_size: usize,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self { pool_size: 16 }
    }
}

pub(crate) struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    pub(crate) async fn open(url: &str, options: &PostgresOptions) -> StoreResult<Self> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|error| StoreError::Unavailable(format!("DATABASE_URL is not a valid PostgreSQL URL: {error}")))?;
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .build()
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
        let result = async {
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_us BIGINT NOT NULL)",
                )
                .await?;
            for (version, sql) in MIGRATIONS {
                let tx = client.transaction().await?;
                let applied: bool =
                    tx.query_one("SELECT count(*) > 0 FROM schema_migrations WHERE version = $1", &[version]).await?.get(0);
                if !applied {
                    tx.batch_execute(sql).await?;
                    tx.execute(
                        "INSERT INTO schema_migrations (version, applied_at_us) VALUES ($1, $2)",
                        &[version, &now_us()],
                    )
                    .await?;
                    tracing::info!(version, "postgres migration applied");
                }
                tx.commit().await?;
            }
            Ok::<(), StoreError>(())
        }
        .await;
        client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await?;
        result
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn secret(&self, name: &str, generated: String) -> StoreResult<String> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO instance_secrets (name, value, created_at_us) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                &[&name, &generated, &now_us()],
            )
            .await?;
        Ok(client.query_one("SELECT value FROM instance_secrets WHERE name = $1", &[&name]).await?.get(0))
    }
}
