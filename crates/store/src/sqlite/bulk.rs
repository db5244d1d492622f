//! A bulk load into a store that holds no events yet (`footprint import` into a new store).
//! Committed one batch at a time, each event costs a descent into each of `events`' indexes;
//! loaded in one transaction, the rows are appended without those indexes, which are then
//! built once, by sorting, at the end. The same SQL that made them makes them again, so the
//! schema stays the migrations'.
//!
//! One thread owns the load from start to end: it holds the log's writer, then the primary
//! writer (the module `log`'s lock order), and the write locks of both files, so no other
//! writer, in this process or another, hands out a `seq` or writes `events` meanwhile.
//! Dropped before `finish`, the thread rolls back: the store is as it was, indexes included.
//!
//! Batches are judged by the same plan as commits. What a commit reads from indexes is known
//! here without them: every stored event is this load's, so each user's latest event is kept
//! in memory, and duplicates across batches are found when the unique `message_id` index is
//! built (the first one read is kept). Sessions of a user whose events came out of time order
//! are worked out again at the end over their events in time order, by the same gap rule
//! (`bulk_sessions.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use footprint_analytics::session::SessionState;
use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

use super::log::{self, LogWriter};
use super::people::{event_row, recorded_user, write_people};
use crate::error::{StoreError, StoreResult};
use crate::model::{BulkLoaded, CommitOptions, EventOutcome, NewEvent};
use crate::plan::{UserState, plan_batch};
use crate::traits::BulkLoad;

enum Command {
    Add(Vec<NewEvent>, oneshot::Sender<StoreResult<Vec<EventOutcome>>>),
    Finish(oneshot::Sender<StoreResult<BulkLoaded>>),
}

/// The handle the caller keeps; the work happens on the load's thread.
struct SqliteBulkLoad {
    commands: mpsc::Sender<Command>,
}

impl BulkLoad for SqliteBulkLoad {
    fn add(&self, batch: Vec<NewEvent>) -> oneshot::Receiver<StoreResult<Vec<EventOutcome>>> {
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::SendError(Command::Add(_, answer))) = self.commands.send(Command::Add(batch, answer)) {
            let _ = answer.send(Err(ended()));
        }
        answered
    }

    fn finish(self: Box<Self>) -> oneshot::Receiver<StoreResult<BulkLoaded>> {
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::SendError(Command::Finish(answer))) = self.commands.send(Command::Finish(answer)) {
            let _ = answer.send(Err(ended()));
        }
        answered
    }
}

fn ended() -> StoreError {
    StoreError::Unavailable("the bulk load ended on an earlier error".to_owned())
}

/// Starts a bulk load on its own thread; None if the store holds events (or the log does).
pub(super) async fn start(
    primary: Arc<Mutex<Connection>>,
    log: Arc<Mutex<LogWriter>>,
    options: CommitOptions,
) -> StoreResult<Option<Box<dyn BulkLoad>>> {
    let (commands, received) = mpsc::channel();
    let (ready, started) = oneshot::channel();
    std::thread::Builder::new()
        .name("sqlite-bulk-load".to_owned())
        .spawn(move || run(&primary, &log, options, &received, ready))
        .map_err(|error| StoreError::Other(Box::new(error)))?;
    let empty = started.await.map_err(|_| ended())??;
    Ok(empty.then(|| Box::new(SqliteBulkLoad { commands }) as Box<dyn BulkLoad>))
}

/// The load's thread: takes the writers, answers `ready` (false: the store holds events and
/// nothing was done), then serves commands until `finish` or until the handle is dropped.
fn run(
    primary: &Mutex<Connection>,
    log: &Mutex<LogWriter>,
    options: CommitOptions,
    commands: &mpsc::Receiver<Command>,
    ready: oneshot::Sender<StoreResult<bool>>,
) {
    let mut writer = log.lock().unwrap_or_else(PoisonError::into_inner);
    let mut conn = primary.lock().unwrap_or_else(PoisonError::into_inner);
    let mut load = match Load::begin(&mut conn, &mut writer, options) {
        Ok(Some(load)) => load,
        Ok(None) => {
            let _ = ready.send(Ok(false));
            return;
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let _ = ready.send(Ok(true));
    let mut finished = false;
    while let Ok(command) = commands.recv() {
        match command {
            Command::Add(batch, answer) => {
                let added = load.add(&conn, &batch);
                let failed = added.is_err();
                let _ = answer.send(added);
                if failed {
                    break;
                }
            }
            Command::Finish(answer) => {
                let done = load.finish(&conn, &writer);
                finished = done.is_ok();
                let _ = answer.send(done);
                break;
            }
        }
    }
    if !finished {
        for (file, conn) in [("primary", &*conn), ("log", &writer.conn)] {
            if let Err(error) = conn.execute_batch("ROLLBACK") {
                tracing::warn!(file, error = %error, "rolling back an unfinished bulk load failed");
            }
        }
    }
    writer.forget_latest();
    match LogWriter::next_seq_after(writer.next_seq, &conn, &writer.conn) {
        Ok(next) => writer.next_seq = next,
        Err(error) => tracing::warn!(error = %error, "reading the next seq after a bulk load failed"),
    }
}

/// A load under way, inside the transactions of both files.
struct Load {
    options: CommitOptions,
    /// The indexes of `events` dropped for the load, as `(name, sql)`.
    indexes: Vec<(String, String)>,
    next_seq: i64,
    /// The state of every user the load has seen: the only events stored are the load's.
    users: HashMap<String, UserState>,
    /// Users with an event older than one stored before it: their sessions are worked out
    /// again at the end.
    out_of_order: HashSet<String>,
}

impl Load {
    /// Empties the log into `events`, takes both files' write locks, and drops `events`'
    /// indexes if `events` holds nothing; None (and no transaction left open) otherwise.
    fn begin(conn: &mut Connection, writer: &mut LogWriter, options: CommitOptions) -> StoreResult<Option<Self>> {
        while let Some(until) = log::move_some(conn, &writer.conn)? {
            log::forget_moved(&writer.conn, until)?;
        }
        writer.conn.execute_batch("BEGIN IMMEDIATE")?;
        if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
            writer.conn.execute_batch("ROLLBACK")?;
            return Err(error.into());
        }
        let empty = (|| -> StoreResult<bool> {
            let logged: bool =
                writer.conn.query_row("SELECT EXISTS (SELECT 1 FROM event_log)", [], |row| row.get(0))?;
            let stored: bool = conn.query_row("SELECT EXISTS (SELECT 1 FROM events)", [], |row| row.get(0))?;
            Ok(!logged && !stored)
        })();
        if !matches!(empty, Ok(true)) {
            conn.execute_batch("ROLLBACK")?;
            writer.conn.execute_batch("ROLLBACK")?;
            return empty.map(|_| None);
        }
        let indexes: Vec<(String, String)> = conn
            .prepare(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL",
            )?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, _) in &indexes {
            conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        }
        conn.execute_batch("CREATE TEMP TABLE IF NOT EXISTS bulk_given_sessions (seq INTEGER PRIMARY KEY)")?;
        let next_seq = LogWriter::next_seq_after(writer.next_seq, conn, &writer.conn)?;
        Ok(Some(Self { options, indexes, next_seq, users: HashMap::new(), out_of_order: HashSet::new() }))
    }

    fn add(&mut self, conn: &Connection, batch: &[NewEvent]) -> StoreResult<Vec<EventOutcome>> {
        let mut states: HashMap<&str, UserState> = HashMap::new();
        for event in batch {
            let user_id = event.user_id.as_str();
            if !states.contains_key(user_id) {
                let state = match self.users.get(user_id) {
                    Some(state) => state.clone(),
                    None => {
                        let (known, consent) = recorded_user(conn, user_id)?;
                        UserState { known, consent, latest: None }
                    }
                };
                states.insert(user_id, state);
            }
            let latest = states.get(user_id).and_then(|state| state.latest.as_ref());
            if event.session_id.is_none() && latest.is_some_and(|latest| event.timestamp_us < latest.last_event_us) {
                self.out_of_order.insert(event.user_key.clone());
            }
        }
        let plan = plan_batch(batch, &mut states, &HashMap::new(), &self.options);
        write_people(conn, &plan)?;
        let mut insert = conn.prepare_cached(
            "INSERT INTO events (seq, event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        )?;
        let mut given = conn.prepare_cached("INSERT INTO temp.bulk_given_sessions (seq) VALUES (?1)")?;
        let mut latest: HashMap<&str, SessionState> = HashMap::new();
        for (index, session_id) in &plan.inserts {
            let event = &batch[*index];
            insert.execute(event_row(&self.next_seq, event, session_id))?;
            if event.session_id.is_some() {
                given.execute([self.next_seq])?;
            }
            self.next_seq += 1;
            let candidate = SessionState { session_id: session_id.clone(), last_event_us: event.timestamp_us };
            match latest.get_mut(event.user_id.as_str()) {
                Some(kept) if kept.last_event_us > candidate.last_event_us => {}
                Some(kept) => *kept = candidate,
                None => {
                    latest.insert(event.user_id.as_str(), candidate);
                }
            }
        }
        for (user_id, mut state) in states {
            if let Some(newer) = latest.remove(user_id)
                && state.latest.as_ref().is_none_or(|kept| kept.last_event_us <= newer.last_event_us)
            {
                state.latest = Some(newer);
            }
            self.users.insert(user_id.to_owned(), state);
        }
        Ok(plan.outcomes)
    }

    /// Builds the unique indexes again (dropping, if one refuses, the events that repeat an
    /// earlier one's `message_id`), works out the sessions of users whose events came out of
    /// order, builds the other indexes, commits.
    fn finish(&mut self, conn: &Connection, writer: &LogWriter) -> StoreResult<BulkLoaded> {
        conn.pragma_update(None, "threads", 2)?;
        let started = std::time::Instant::now();
        let (unique, others): (Vec<&String>, Vec<&String>) = self
            .indexes
            .iter()
            .map(|(_, sql)| sql)
            .partition(|sql| sql.to_ascii_uppercase().starts_with("CREATE UNIQUE"));
        let (mut late_duplicates, mut deduplicated) = (0, false);
        for sql in unique {
            match conn.execute_batch(sql) {
                Err(rusqlite::Error::SqliteFailure(failure, _))
                    if failure.code == ErrorCode::ConstraintViolation && !deduplicated =>
                {
                    deduplicated = true;
                    late_duplicates = conn.execute(
                        "DELETE FROM events WHERE message_id IS NOT NULL AND seq NOT IN
                         (SELECT min(seq) FROM events WHERE message_id IS NOT NULL GROUP BY user_key, message_id)",
                        [],
                    )? as u64;
                    conn.execute_batch(sql)?;
                }
                other => other?,
            }
        }
        let unique_built = started.elapsed();
        super::bulk_sessions::sessions_in_time_order(conn, &self.out_of_order, self.options.session_gap_us)?;
        let sessions = started.elapsed() - unique_built;
        for sql in others {
            conn.execute_batch(sql)?;
        }
        let indexed = started.elapsed();
        conn.execute_batch("DROP TABLE temp.bulk_given_sessions; COMMIT")?;
        writer.conn.execute_batch("COMMIT")?;
        // The whole load went through the WAL: copied into the file now, it does not linger
        // (as large as the load) for the next process to read through and checkpoint.
        // The load is committed: a checkpoint that fails now is not the load's failure.
        match super::files::truncate_wal(conn) {
            Ok(true) => {}
            Ok(false) => tracing::warn!("the WAL stayed busy after a bulk load; the checkpointer will copy it later"),
            Err(error) => {
                tracing::warn!(error = %error, "the WAL's checkpoint after a bulk load failed; the checkpointer will copy it later")
            }
        }
        tracing::debug!(?unique_built, ?sessions, ?indexed, committed = ?started.elapsed() - indexed, late_duplicates,
            out_of_order = self.out_of_order.len(), "bulk load finished");
        Ok(BulkLoaded { late_duplicates })
    }
}
