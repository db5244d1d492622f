//! Opening the store's files (pragmas, migrations) and the background thread that checkpoints
//! their WALs, so that no commit pays for copying pages.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};

use super::{SqliteOptions, Synchronous};
use crate::error::StoreResult;
use crate::now_us;

const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The WAL file is cut back to this size when it is reset after a full checkpoint.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// A WAL longer than this (in pages: 64 MiB of 4 KiB pages) is started over by a RESTART
/// checkpoint.
const RESTART_AFTER_FRAMES: i64 = 16_384;

pub(super) fn open_connection(path: &Path, options: &SqliteOptions, read_only: bool) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    let synchronous = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    // A cached statement keeps its plan: without this, SQLite (built with STAT4) prepares a
    // statement again whenever a new value is bound to a parameter its plan looked at (a time
    // bound, a LIMIT), which took a sixth of ingestion's CPU.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted rows are overwritten with zeros, not left in free space and free pages: an erased
    // user's bytes must not outlive the erasure in the file.
    conn.pragma_update(None, "secure_delete", "ON")?;
    // Memory-mapped reads, and a page cache of 64 MiB for the writer (indexes keyed by user are
    // touched at random) and 16 MiB for each reader (readers also share the OS cache through mmap).
    conn.pragma_update(None, "mmap_size", 268_435_456)?;
    if read_only {
        conn.pragma_update(None, "cache_size", -16_384)?;
        conn.pragma_update(None, "query_only", "ON")?;
    } else {
        conn.pragma_update(None, "cache_size", -65_536)?;
    }
    Ok(conn)
}

/// Copies WAL frames into the database files in the background (PASSIVE: it never blocks the
/// writers or the readers), until the store is dropped; then a last full checkpoint.
pub(super) fn run_checkpointer(connections: Vec<Connection>, stop: mpsc::Receiver<()>) {
    let checkpoint = |conn: &Connection, mode: &str| {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
        })
    };
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        for conn in &connections {
            match checkpoint(conn, "PASSIVE") {
                // Under a steady stream of reads some reader always holds a snapshot inside
                // the WAL, so the writer never gets to start it over and it grows without end
                // (and every lookup in it slows down). RESTART holds new writers back for the
                // moment it takes the readers to move to the newest snapshot.
                Ok((wal_frames, _)) if wal_frames > RESTART_AFTER_FRAMES => {
                    if let Err(error) = checkpoint(conn, "RESTART") {
                        tracing::warn!(error = %error, wal_frames, "the SQLite WAL is large and could not be restarted");
                    }
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "WAL checkpoint failed"),
            }
        }
    }
    for conn in &connections {
        if let Err(error) = checkpoint(conn, "TRUNCATE") {
            tracing::debug!(error = %error, "final WAL checkpoint did not complete");
        }
    }
}

/// How long an erasure waits for readers to leave the WAL before it gives up truncating it.
const TRUNCATE_WAIT: Duration = Duration::from_secs(10);

/// Copies the whole WAL of the connection's main file into the file and truncates the WAL to
/// nothing, so that no earlier version of a page (an erased user's rows) stays in it. Waits
/// for readers and for the background checkpoint; false when they kept it busy too long.
pub(super) fn truncate_wal(conn: &Connection) -> StoreResult<bool> {
    let deadline = std::time::Instant::now() + TRUNCATE_WAIT;
    loop {
        let busy: i64 = conn.query_row("PRAGMA main.wal_checkpoint(TRUNCATE)", [], |row| row.get(0))?;
        if busy == 0 {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `footprint.db` → `footprint-derived.db`, beside it.
pub fn derived_path(path: &Path) -> std::path::PathBuf {
    let stem = path.file_stem().map_or_else(|| "footprint".into(), |stem| stem.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-derived.db"))
}

/// The files of the store whose primary file is `path`: it, the derived file and the ingestion log.
pub fn store_files(path: &Path) -> [std::path::PathBuf; 3] {
    [path.to_path_buf(), derived_path(path), super::log::log_path(path)]
}

/// A writer of one file: WAL checkpoints left to the background thread.
pub(super) fn open_writer(path: &Path, options: &SqliteOptions, migrations: &[(i64, &str)]) -> StoreResult<Connection> {
    let mut writer = open_connection(path, options, false)?;
    migrate(&mut writer, migrations)?;
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    Ok(writer)
}

/// Work the derived migrations left for when the events file is attached as `store` (each in
/// one transaction with its removal from `upkeep`).
pub(super) fn run_upkeep(conn: &mut Connection) -> StoreResult<()> {
    const WORK: &[(&str, &str)] = &[
        ("daily_activity", include_str!("migrations/derived_upkeep_daily_activity.sql")),
        ("user_days", include_str!("migrations/derived_upkeep_user_days.sql")),
    ];
    for (name, sql) in WORK {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pending: bool =
            tx.query_row("SELECT count(*) > 0 FROM upkeep WHERE name = ?1", [name], |row| row.get(0))?;
        if pending {
            tx.execute_batch(sql)?;
            tracing::info!(name, "sqlite upkeep done");
        }
        tx.commit()?;
    }
    Ok(())
}

fn migrate(conn: &mut Connection, migrations: &[(i64, &str)]) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_us INTEGER NOT NULL)",
    )?;
    for (version, sql) in migrations {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: bool =
            tx.query_row("SELECT count(*) > 0 FROM schema_migrations WHERE version = ?1", [version], |row| row.get(0))?;
        if !applied {
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at_us) VALUES (?1, ?2)",
                params![version, now_us()],
            )?;
            tracing::info!(version, "sqlite migration applied");
        }
        tx.commit()?;
    }
    Ok(())
}
