//! The ingestion log: the third file (`<stem>-log.db`). A commit of new events appends them to
//! its `event_log` table, a table that only ever holds the last moments of traffic, so its two
//! small indexes stay in cache and a commit writes a few pages. A background mover then copies
//! the log's oldest rows into the primary file's indexed `events` table in large transactions
//! (each index page written once for thousands of events instead of once per commit), records
//! how far it went in `event_log_moved` in the same transaction, and deletes them from the log.
//!
//! Invariants:
//! - an event is in the log, in `events`, or (between a move and the log's deletion) in both;
//!   never in neither. Reads of both take the log's snapshot first ([`read_log_first`]) and
//!   keep only log rows past `event_log_moved`, so each event is seen once.
//! - `seq` is handed out by the log writer alone, in commit order, never reused: a move is a
//!   prefix of the log, and processing, which follows `seq`, never passes an event still to come.
//! - lock order: the log writer, then the primary writer; no one holds the primary writer while
//!   taking the log writer. Changes to a user's events (erasure, anonymisation, identity moves)
//!   touch the log first, then `events`: a move in between is caught by the second step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::error::StoreResult;

pub(super) const LOG_MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("migrations/log_0001_event_log.sql"))];

/// The most the mover moves in one transaction.
const MOVE_MAX_ROWS: i64 = 20_000;

/// The log rows not yet moved into `events`, as a condition on the alias `e`, for a connection
/// that has the primary file as `main` (readers and the primary writer).
const UNMOVED: &str = "e.seq > (SELECT seq FROM main.event_log_moved)";

/// The same SELECT over `events` and over the log's unmoved rows, as one `UNION ALL`:
/// `select(table, condition)` names the table (to alias `e`) and appends `condition`
/// (`""` or `" AND …"`) to its WHERE clause. To run under [`read_log_first`].
pub(super) fn over_both(select: impl Fn(&str, &str) -> String) -> String {
    format!("{} UNION ALL {}", select("main.events", ""), select("log.event_log", &format!(" AND {UNMOVED}")))
}

/// `footprint.db` → `footprint-log.db`, beside it.
pub fn log_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map_or_else(|| "footprint".into(), |stem| stem.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-log.db"))
}

/// The log's only writer, a read-only connection to the primary file for what a commit looks
/// up there, and the next `seq` it hands out. Neither connection attaches the other file: a
/// write transaction takes the write lock of every attached file, and the log's commits must
/// not hold back the primary file's writer (nor be held back by it).
pub(crate) struct LogWriter {
    pub conn: Connection,
    pub primary: Connection,
    pub next_seq: i64,
    /// Each recently seen user's latest stored event (time, seq, session), so that a commit
    /// does not look it up again: the log's writer takes part in every change to a user's
    /// events, and forgets them all at any change other than a commit's appends.
    latest: HashMap<String, Latest>,
    /// `SqliteOptions::log_waiting_max`.
    waiting_max: i64,
}

/// A user's latest stored event: its time, its seq, its session.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Latest {
    pub ts_us: i64,
    pub seq: i64,
    pub session_id: String,
}

/// Users whose latest event is kept in memory; past it, the memory starts over.
const LATEST_KEPT: usize = 100_000;

impl LogWriter {
    pub fn new(conn: Connection, primary: Connection, waiting_max: i64) -> StoreResult<Self> {
        let next_seq = Self::next_seq_after(1, &primary, &conn)?;
        Ok(Self { conn, primary, next_seq, latest: HashMap::new(), waiting_max })
    }

    /// Forgets every user's latest event (after a change other than a commit's appends).
    pub fn forget_latest(&mut self) {
        self.latest.clear();
    }

    pub fn latest(&self, user_key: &str) -> Option<&Latest> {
        self.latest.get(user_key)
    }

    /// Keeps `latest` as the user's latest event unless a later one is kept already.
    pub fn remember(&mut self, user_key: &str, latest: Latest) {
        if self.latest.len() >= LATEST_KEPT && !self.latest.contains_key(user_key) {
            self.latest.clear();
        }
        match self.latest.get_mut(user_key) {
            Some(kept) if *kept >= latest => {}
            Some(kept) => *kept = latest,
            None => {
                self.latest.insert(user_key.to_owned(), latest);
            }
        }
    }

    /// The next seq to hand out, inside the log's write transaction: past `next_seq` (what this
    /// process handed out), what the log holds, and what `events` ever held (another process writing
    /// the same files, a command run beside the server, hands out seqs too).
    pub fn next_seq_after(next_seq: i64, primary: &Connection, log_tx: &Connection) -> StoreResult<i64> {
        // AUTOINCREMENT's record of `events` keeps the greatest seq ever used, erased ones included.
        let logged: i64 = log_tx.query_row("SELECT coalesce(max(seq), 0) FROM event_log", [], |row| row.get(0))?;
        let stored: i64 = primary.query_row(
            "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)",
            [],
            |row| row.get(0),
        )?;
        Ok(next_seq.max(logged + 1).max(stored + 1))
    }

    fn moved_seq(&self) -> StoreResult<i64> {
        Ok(self.primary.query_row("SELECT seq FROM event_log_moved", [], |row| row.get(0))?)
    }
}

/// Runs `work` in one read transaction whose snapshot of the log is taken before that of the
/// primary file: an event moved and deleted from the log in between is then in `events`.
pub(super) fn read_log_first<T>(conn: &Connection, work: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    let tx = conn.unchecked_transaction()?;
    take_log_snapshot(&tx)?;
    let answer = work(&tx)?;
    tx.commit()?;
    Ok(answer)
}

/// Inside a read transaction of a connection with the log attached as `log`, takes the log's
/// snapshot now, before the statements that read the primary file.
pub(super) fn take_log_snapshot(tx: &Connection) -> StoreResult<()> {
    tx.query_row("SELECT count(*) FROM log.event_log WHERE seq < 0", [], |_| Ok(()))?;
    Ok(())
}

/// Deletes from the log (on its writer) the rows a move copied into `events`.
pub(super) fn forget_moved(log: &Connection, until: i64) -> StoreResult<()> {
    log.execute("DELETE FROM event_log WHERE seq <= ?1", [until])?;
    Ok(())
}

/// Moves up to `MOVE_MAX_ROWS` of the oldest log rows, read with `log_reader`, into `events`
/// on the primary writer; the greatest seq moved, or None when nothing waited.
/// Where the last move ended is read inside the write transaction: another process's mover (a
/// command run beside the server) cannot move the same rows.
pub(super) fn move_some(primary: &mut Connection, log_reader: &Connection) -> StoreResult<Option<i64>> {
    let tx = primary.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let moved: i64 = tx.query_row("SELECT seq FROM event_log_moved", [], |row| row.get(0))?;
    let mut batch: Vec<[Value; 10]> = Vec::new();
    {
        let mut select = log_reader.prepare_cached(
            "SELECT seq, event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us
             FROM event_log WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let mut rows = select.query(params![moved, MOVE_MAX_ROWS])?;
        while let Some(row) = rows.next()? {
            let mut values: [Value; 10] = std::array::from_fn(|_| Value::Null);
            for (column, value) in values.iter_mut().enumerate() {
                *value = row.get(column)?;
            }
            batch.push(values);
        }
    }
    let Some(Value::Integer(until)) = batch.last().map(|row| row[0].clone()) else {
        return Ok(None);
    };
    let mut inserted = 0;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO events (seq, event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT DO NOTHING",
        )?;
        for row in &batch {
            inserted += insert.execute(rusqlite::params_from_iter(row.iter()))?;
        }
    }
    if inserted != batch.len() {
        // Only a clash of event ids or message ids could do it; the commit checked both.
        tracing::error!(
            expected = batch.len(),
            inserted,
            "the ingestion log's move skipped events already in the events table"
        );
    }
    tx.execute("UPDATE event_log_moved SET seq = ?1", [until])?;
    tx.commit()?;
    Ok(Some(until))
}

/// Moves every event waiting in the log (in transactions of at most `MOVE_MAX_ROWS`), deleting
/// what was moved from the log.
pub(super) fn move_all(
    primary: &Mutex<Connection>,
    log: &Mutex<LogWriter>,
    log_reader: &Connection,
) -> StoreResult<()> {
    loop {
        let moved = {
            let mut conn = primary.lock().unwrap_or_else(PoisonError::into_inner);
            move_some(&mut conn, log_reader)?
        };
        let Some(until) = moved else {
            return Ok(());
        };
        forget_moved(&log.lock().unwrap_or_else(PoisonError::into_inner).conn, until)?;
    }
}

/// Called by a commit, with the log's writer held: moves log rows into `events` while more than
/// `SqliteOptions::log_waiting_max` wait, so the log stays the last moments of traffic (and its
/// indexes in cache) when the mover falls behind.
pub(super) fn bound_waiting(primary: &Mutex<Connection>, writer: &LogWriter) -> StoreResult<()> {
    while writer.next_seq - 1 - writer.moved_seq()? > writer.waiting_max {
        let moved = {
            let mut conn = primary.lock().unwrap_or_else(PoisonError::into_inner);
            move_some(&mut conn, &writer.conn)?
        };
        let Some(until) = moved else {
            break;
        };
        forget_moved(&writer.conn, until)?;
    }
    Ok(())
}

/// The mover: every `every`, moves what waits in the log, until the store is dropped.
pub(super) fn run_mover(
    primary: Arc<Mutex<Connection>>,
    log: Arc<Mutex<LogWriter>>,
    log_reader: Connection,
    every: Duration,
    stop: mpsc::Receiver<()>,
) {
    loop {
        if let Err(error) = move_all(&primary, &log, &log_reader) {
            tracing::warn!(error = %error, "moving the ingestion log into the events table failed; retrying");
        }
        match stop.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    if let Err(error) = move_all(&primary, &log, &log_reader) {
        tracing::debug!(error = %error, "the last move of the ingestion log did not complete");
    }
}

/// Runs `change` (an UPDATE or DELETE of `event_log` rows matching `condition`) on the log's
/// writer; answers how many of those rows were not yet moved (those `events` does not hold).
/// Done before the same change to `events`: see the module's lock order.
pub(super) fn change_logged(
    writer: &mut LogWriter,
    condition: &str,
    change: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<u64> {
    writer.forget_latest();
    let moved = writer.moved_seq()?;
    let tx = writer.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let unmoved: i64 = {
        let mut count = tx.prepare(&format!("SELECT count(*) FROM event_log WHERE {condition} AND seq > {moved}"))?;
        // The change may bind more values (its SET clause) than the condition.
        let used = count.parameter_count().min(values.len());
        count.query_row(&values[..used], |row| row.get(0))?
    };
    tx.execute(&format!("{change} WHERE {condition}"), values)?;
    tx.commit()?;
    Ok(unmoved as u64)
}
