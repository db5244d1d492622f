//! The embedded SQLite backend. Two database files: the primary one (users, consents, events…)
//! and a *derived* one (what processing computes from the events), each with one writer
//! connection that serialises its writes, so that processing never holds up the commit of new
//! events. A pool of read-only connections sees both (the derived file is attached as
//! `derived`) and reads concurrently thanks to WAL. Blocking calls run on tokio's blocking pool.
//! A background thread checkpoints both WALs, so that no commit pays for copying pages.
//!
//! This module opens the store and holds the connection helpers; each area's trait is
//! implemented in the module of that name.

mod accounts;
mod attendance;
pub mod backup;
mod events;
pub(crate) mod files;
mod insights;
mod privacy;
mod registry;
mod rows;
mod security;
mod segments;
mod sequences;
mod webhooks;

use std::path::Path;
use std::sync::mpsc::{self};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, params};

use crate::error::{StoreError, StoreResult};
use crate::{Store, now_us};
pub(crate) use files::derived_path;
use files::{open_connection, open_writer, run_checkpointer, run_upkeep};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_retention_models.sql")),
    (3, include_str!("migrations/0003_erasures.sql")),
    (4, include_str!("migrations/0004_profile_versions.sql")),
    (5, include_str!("migrations/0005_attendance.sql")),
    (6, include_str!("migrations/0006_ml_calls.sql")),
    (7, include_str!("migrations/0007_attendance_history_index.sql")),
    (8, include_str!("migrations/0008_repair_version_2.sql")),
    (9, include_str!("migrations/0009_token_generation.sql")),
    (10, include_str!("migrations/0010_login_attempts.sql")),
    (11, include_str!("migrations/0011_tier_changes.sql")),
    (12, include_str!("migrations/0012_api_key_tier.sql")),
    (13, include_str!("migrations/0013_mfa.sql")),
    (14, include_str!("migrations/0014_outbox.sql")),
    (15, include_str!("migrations/0015_login_history.sql")),
    (16, include_str!("migrations/0016_insights.sql")),
    (17, include_str!("migrations/0017_attendance_attributes.sql")),
    (18, include_str!("migrations/0018_attendance_organizations.sql")),
    (19, include_str!("migrations/0019_identity_links.sql")),
    (20, include_str!("migrations/0020_webhooks.sql")),
];
/// The derived database: what processing computes from the events.
const DERIVED_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/derived_0001_sequences.sql")),
    (2, include_str!("migrations/derived_0002_profiles.sql")),
    (3, include_str!("migrations/derived_0003_clusters.sql")),
    (4, include_str!("migrations/derived_0004_cluster_user.sql")),
    (5, include_str!("migrations/derived_0005_cluster_placed.sql")),
    (6, include_str!("migrations/derived_0006_daily_activity.sql")),
    (7, include_str!("migrations/derived_0007_user_days.sql")),
];

/// SQLite's `synchronous` setting. `Full` syncs the WAL at every commit, so an acknowledged
/// event survives a power cut; `Normal` survives a process crash only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    Normal,
    #[default]
    Full,
}

#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub synchronous: Synchronous,
    pub read_connections: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self { synchronous: Synchronous::Full, read_connections: 8 }
    }
}

pub(crate) struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    derived_writer: Arc<Mutex<Connection>>,
    readers: deadpool::unmanaged::Pool<Connection>,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: mpsc::Sender<()>,
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path, options: &SqliteOptions) -> StoreResult<Self> {
        let path = path.to_owned();
        let options = options.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|error| {
                    StoreError::Unavailable(format!("cannot create data directory {}: {error}", dir.display()))
                })?;
            }
            let derived = derived_path(&path);
            let writer = open_writer(&path, &options, MIGRATIONS)?;
            let mut derived_writer = open_writer(&derived, &options, DERIVED_MIGRATIONS)?;
            // Processing commits read the users table: rows of users no longer stored (erased,
            // anonymised) are left out.
            derived_writer.execute("ATTACH DATABASE ?1 AS store", [path.to_string_lossy()])?;
            run_upkeep(&mut derived_writer)?;
            let (checkpointer, stop) = mpsc::channel();
            let checkpoints =
                vec![open_connection(&path, &options, false)?, open_connection(&derived, &options, false)?];
            std::thread::Builder::new()
                .name("sqlite-checkpoint".to_owned())
                .spawn(move || run_checkpointer(checkpoints, stop))
                .map_err(|error| StoreError::Other(Box::new(error)))?;
            let readers = deadpool::unmanaged::Pool::new(options.read_connections.max(1));
            for _ in 0..options.read_connections.max(1) {
                let reader = open_connection(&path, &options, true)?;
                reader.execute("ATTACH DATABASE ?1 AS derived", [derived.to_string_lossy()])?;
                readers.try_add(reader).map_err(|(_, error)| StoreError::Other(Box::new(error)))?;
            }
            Ok(Self {
                writer: Arc::new(Mutex::new(writer)),
                derived_writer: Arc::new(Mutex::new(derived_writer)),
                readers,
                _checkpointer: checkpointer,
            })
        })
        .await?
    }

    async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        Self::write_with(Arc::clone(&self.writer), work).await
    }

    async fn write_derived<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        Self::write_with(Arc::clone(&self.derived_writer), work).await
    }

    async fn write_with<T, F>(writer: Arc<Mutex<Connection>>, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut conn)
        })
        .await?
    }

    /// Truncates both WALs after an erasure or anonymisation: the pages written before it,
    /// which still hold the user's rows, go with them. The rows are already gone either way;
    /// a WAL kept busy past the wait is logged and truncated by a later checkpoint.
    async fn truncate_wals(&self) -> StoreResult<()> {
        for (file, writer) in [("primary", &self.writer), ("derived", &self.derived_writer)] {
            if !Self::write_with(Arc::clone(writer), |conn| files::truncate_wal(conn)).await? {
                tracing::warn!(file, "the SQLite WAL stayed busy: an erased user's old pages remain in it for now");
            }
        }
        Ok(())
    }

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.readers.get().await.map_err(|error| StoreError::Unavailable(error.to_string()))?;
        tokio::task::spawn_blocking(move || work(&conn)).await?
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| Ok(conn.query_row("SELECT 1", [], |row| row.get::<_, i64>(0)).map(|_| ())?)).await
    }

    async fn secret(&self, name: &str, generated: String) -> StoreResult<String> {
        let name = name.to_owned();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO instance_secrets (name, value, created_at_us) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
                params![name, generated, now_us()],
            )?;
            Ok(conn.query_row("SELECT value FROM instance_secrets WHERE name = ?1", [&name], |row| row.get(0))?)
        })
        .await
    }
}
