//! Copies of the embedded store taken while it runs, and their restoration: SQLite's online
//! backup API, one read transaction per file, so each copy is a consistent snapshot whatever
//! the server writes meanwhile. The derived file is copied first: its watermark then never
//! points past the events of the primary and log copies, and processing resumes from it after a
//! restore (events acknowledged after the derived copy are processed again). The ingestion log
//! is copied before the primary file: an event moved out of the log in between is then in the
//! primary copy, so every event acknowledged before the backup started is in one of them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::files::derived_path;
use super::log::log_path;
use crate::error::{StoreError, StoreResult};

/// What a backup or a restore wrote, checked by opening the copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    pub primary: PathBuf,
    pub derived: PathBuf,
    /// Events in the primary copy.
    pub events: i64,
    /// The last event the derived copy had processed (0 when none).
    pub watermark: i64,
    pub bytes: u64,
}

/// Copies `source` (the store's primary file) and its derived file to `target` and its derived
/// sibling (`<target stem>-derived.db`). Neither target may exist.
pub fn backup(source: &Path, target: &Path) -> StoreResult<BackupReport> {
    if !source.exists() {
        return Err(StoreError::Unavailable(format!("no store at {}", source.display())));
    }
    let mut pairs = vec![(derived_path(source), derived_path(target))];
    pairs.extend(log_pair(source, target));
    pairs.push((source.to_path_buf(), target.to_path_buf()));
    copy_all(&pairs, target)
}

/// Restores a backup (`backup` and its derived sibling) as the store at `target`, which must
/// not exist yet.
pub fn restore(backup: &Path, target: &Path) -> StoreResult<BackupReport> {
    let mut pairs = vec![(backup.to_path_buf(), target.to_path_buf()), (derived_path(backup), derived_path(target))];
    for (from, _) in &pairs {
        if !from.exists() {
            return Err(StoreError::Unavailable(format!("{} is missing from the backup", from.display())));
        }
    }
    pairs.extend(log_pair(backup, target));
    copy_all(&pairs, target)
}

/// The ingestion log's (from, to), when `from` has one: a store last opened before the log
/// existed, and a backup of it, have none.
fn log_pair(from: &Path, to: &Path) -> Option<(PathBuf, PathBuf)> {
    let log = log_path(from);
    log.exists().then(|| (log, log_path(to)))
}

/// Copies each (from, to) in order into files that must not exist yet, then checks the copy
/// whose primary file is `primary`.
fn copy_all(pairs: &[(PathBuf, PathBuf)], primary: &Path) -> StoreResult<BackupReport> {
    if let Some((_, taken)) = pairs.iter().find(|(_, to)| to.exists()) {
        return Err(StoreError::Unavailable(format!(
            "{} exists: choose a new file (nothing is overwritten)",
            taken.display()
        )));
    }
    if let Some(parent) = primary.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| StoreError::Unavailable(format!("{}: {e}", parent.display())))?;
    }
    for (from, to) in pairs {
        copy(from, to)?;
    }
    verify(primary)
}

/// One file, all its pages in one step (one read transaction: a consistent snapshot).
fn copy(from: &Path, to: &Path) -> StoreResult<()> {
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    source.busy_timeout(Duration::from_secs(30))?;
    let mut target = Connection::open(to)?;
    let backup = rusqlite::backup::Backup::new(&source, &mut target)?;
    // −1: every page in one step, under one read transaction. Busy or locked: wait and retry.
    let mut waits = 0;
    loop {
        match backup.step(-1)? {
            rusqlite::backup::StepResult::Done => break,
            rusqlite::backup::StepResult::More => {}
            _ if waits < 300 => {
                waits += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            _ => return Err(StoreError::Unavailable(format!("{} stayed busy for 30 s", from.display()))),
        }
    }
    drop(backup);
    // A copy in the rollback journal mode is one self-contained file.
    target.pragma_update(None, "journal_mode", "DELETE")?;
    Ok(())
}

/// Opens both copies, checks their integrity and reads what they hold.
fn verify(primary: &Path) -> StoreResult<BackupReport> {
    let derived = derived_path(primary);
    let log = log_path(primary);
    let mut bytes = 0;
    let mut files = vec![primary, derived.as_path()];
    if log.exists() {
        files.push(log.as_path());
    }
    for file in files {
        let conn = Connection::open_with_flags(file, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
        if check != "ok" {
            return Err(StoreError::Unavailable(format!("{} fails its integrity check: {check}", file.display())));
        }
        bytes += std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    }
    let primary_conn = Connection::open_with_flags(primary, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let (mut events, mut last_seq): (i64, i64) =
        primary_conn.query_row("SELECT count(*), coalesce(max(seq), 0) FROM events", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    if log.exists() {
        // The log's events not yet moved into the primary copy.
        primary_conn.execute("ATTACH DATABASE ?1 AS log", [log.to_string_lossy()])?;
        let (logged, last_logged): (i64, i64) = primary_conn.query_row(
            "SELECT count(*), coalesce(max(seq), 0) FROM log.event_log WHERE seq > (SELECT seq FROM main.event_log_moved)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?;
        events += logged;
        last_seq = last_seq.max(last_logged);
    }
    let derived_conn = Connection::open_with_flags(&derived, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let watermark: i64 =
        derived_conn.query_row("SELECT coalesce(max(watermark), 0) FROM processor_state", [], |row| row.get(0))?;
    if watermark > last_seq {
        return Err(StoreError::Unavailable(format!(
            "the derived copy has processed up to event {watermark}, past the primary copy's last ({last_seq})"
        )));
    }
    Ok(BackupReport { primary: primary.to_path_buf(), derived, events, watermark, bytes })
}
