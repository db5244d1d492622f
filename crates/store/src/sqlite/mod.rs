//! The embedded SQLite backend. Three database files: the primary one (users, consents, the
//! indexed events…), a *derived* one (what processing computes from the events) and the
//! ingestion *log* (new events, acknowledged once appended there, moved into the primary file's
//! `events` in large transactions: see `log`). Each has one writer connection that serialises
//! its writes, so that neither processing nor the move holds up the commit of new events. A
//! pool of read-only connections sees all three (attached as `derived` and `log`) and reads
//! concurrently thanks to WAL. Blocking calls run on tokio's blocking pool. A background
//! thread checkpoints the WALs, so that no commit pays for copying pages.
//!
//! This module opens the store and holds the connection helpers; each area's trait is
//! implemented in the module of that name.

mod accounts;
mod attendance;
pub mod backup;
mod bulk;
mod bulk_sessions;
mod events;
pub(crate) mod files;
mod insights;
pub(crate) mod log;
mod people;
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
    (21, include_str!("migrations/0021_event_log_moved.sql")),
    (22, include_str!("migrations/0022_webhook_marks.sql")),
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
    /// How often the ingestion log's waiting events are moved into the indexed events table
    /// (also once when the store opens and once when it closes).
    pub log_move_every: std::time::Duration,
    /// Events that may wait in the ingestion log: past them, a commit moves some first, so the
    /// log stays small when the mover falls behind (as under a bulk import).
    pub log_waiting_max: i64,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            read_connections: 8,
            log_move_every: std::time::Duration::from_millis(250),
            log_waiting_max: 100_000,
        }
    }
}

/// How the derived file's writer begins its transactions. Not IMMEDIATE: that takes the write
/// lock of every attached file, and the derived writer has the primary file attached (to read
/// which users still exist), so each processing commit would hold back ingestion's. Deferred,
/// the write lock is taken on the derived file alone, by the first write; the derived writer is
/// that file's only writer, so it never waits for it.
const DERIVED_WRITE: rusqlite::TransactionBehavior = rusqlite::TransactionBehavior::Deferred;

pub(crate) struct SqliteStore {
    writer: Arc<Mutex<Connection>>,
    log: Arc<Mutex<log::LogWriter>>,
    derived_writer: Arc<Mutex<Connection>>,
    readers: deadpool::unmanaged::Pool<Connection>,
    /// The tombstones of the `erasures` table, kept in memory: ingestion asks for every request
    /// whether its users were erased. Erasures are made by this process (the server); another
    /// process opened on the same files (an import beside it) sees those made before it opened.
    erased: std::sync::RwLock<std::collections::HashSet<String>>,
    /// Dropping it stops the checkpoint thread.
    _checkpointer: mpsc::Sender<()>,
    /// Dropping it stops the log's mover, after a last move.
    _mover: mpsc::Sender<()>,
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
            let log_file = log::log_path(&path);
            let writer = open_writer(&path, &options, MIGRATIONS)?;
            let log_conn = open_writer(&log_file, &options, log::LOG_MIGRATIONS)?;
            // The log holds the last moments of traffic: a small cache holds all of it.
            log_conn.pragma_update(None, "cache_size", -16_384)?;
            // Its view of the primary file probes the events' indexes at random: through its
            // page cache only, not a memory map of the whole file (which RSS would count again).
            let primary_view = open_connection(&path, &options, true)?;
            primary_view.pragma_update(None, "mmap_size", 0)?;
            let log_writer =
                Arc::new(Mutex::new(log::LogWriter::new(log_conn, primary_view, options.log_waiting_max)?));
            let erased = writer
                .prepare("SELECT tombstone FROM erasures")?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let writer = Arc::new(Mutex::new(writer));
            // What the log held when the store last closed is moved first: the derived file's
            // upkeep below reads the events table.
            let log_reader = open_connection(&log_file, &options, true)?;
            log::move_all(&writer, &log_writer, &log_reader)?;
            let mut derived_writer = open_writer(&derived, &options, DERIVED_MIGRATIONS)?;
            // Processing commits read the users table: rows of users no longer stored (erased,
            // anonymised) are left out.
            derived_writer.execute("ATTACH DATABASE ?1 AS store", [path.to_string_lossy()])?;
            derived_writer.execute("ATTACH DATABASE ?1 AS log", [log_file.to_string_lossy()])?;
            run_upkeep(&mut derived_writer)?;
            let (checkpointer, stop) = mpsc::channel();
            let checkpoints = [&path, &derived, &log_file]
                .into_iter()
                .map(|file| {
                    let conn = open_connection(file, &options, false)?;
                    // A checkpoint copies WAL frames to the file: it needs no page cache.
                    conn.pragma_update(None, "cache_size", -1_024)?;
                    Ok(conn)
                })
                .collect::<StoreResult<Vec<_>>>()?;
            std::thread::Builder::new()
                .name("sqlite-checkpoint".to_owned())
                .spawn(move || run_checkpointer(checkpoints, stop))
                .map_err(|error| StoreError::Other(Box::new(error)))?;
            let readers = deadpool::unmanaged::Pool::new(options.read_connections.max(1));
            for _ in 0..options.read_connections.max(1) {
                let reader = open_connection(&path, &options, true)?;
                reader.execute("ATTACH DATABASE ?1 AS derived", [derived.to_string_lossy()])?;
                reader.execute("ATTACH DATABASE ?1 AS log", [log_file.to_string_lossy()])?;
                readers.try_add(reader).map_err(|(_, error)| StoreError::Other(Box::new(error)))?;
            }
            let (mover, stop_moving) = mpsc::channel();
            let (primary, logged, every) = (Arc::clone(&writer), Arc::clone(&log_writer), options.log_move_every);
            std::thread::Builder::new()
                .name("sqlite-log-mover".to_owned())
                .spawn(move || log::run_mover(primary, logged, log_reader, every, stop_moving))
                .map_err(|error| StoreError::Other(Box::new(error)))?;
            Ok(Self {
                writer,
                log: log_writer,
                derived_writer: Arc::new(Mutex::new(derived_writer)),
                readers,
                erased: std::sync::RwLock::new(erased),
                _checkpointer: checkpointer,
                _mover: mover,
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

    /// Runs `work` with the ingestion log's writer and the primary writer (to lock only after
    /// the log's: see `log` for the order).
    async fn write_log<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut log::LogWriter, &Mutex<Connection>) -> StoreResult<T> + Send + 'static,
    {
        let (log, primary) = (Arc::clone(&self.log), Arc::clone(&self.writer));
        tokio::task::spawn_blocking(move || {
            let mut writer = log.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            work(&mut writer, &primary)
        })
        .await?
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
        if !self.write_log(|log, _| files::truncate_wal(&log.conn)).await? {
            tracing::warn!(file = "log", "the SQLite WAL stayed busy: an erased user's old pages remain in it for now");
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
