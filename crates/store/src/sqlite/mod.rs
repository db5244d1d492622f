//! The embedded SQLite backend. Two database files: the primary one (users, consents, events…)
//! and a *derived* one (what processing computes from the events), each with one writer
//! connection that serialises its writes, so that processing never holds up the commit of new
//! events. A pool of read-only connections sees both (the derived file is attached as
//! `derived`) and reads concurrently thanks to WAL. Blocking calls run on tokio's blocking pool.
//! A background thread checkpoints both WALs, so that no commit pays for copying pages.

mod rows;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use footprint_analytics::Consent;
use footprint_analytics::session::SessionState;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::plan::{RecordedConsent, UserState, needing_predecessor, plan_batch};
use crate::{Store, now_us};
use rows::{USER_COLUMNS, consent_from_row, event_from_row, user_from_row};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_retention_models.sql")),
    (3, include_str!("migrations/0003_erasures.sql")),
    (4, include_str!("migrations/0004_profile_versions.sql")),
    (5, include_str!("migrations/0005_attendance.sql")),
];
/// The derived database: what processing computes from the events.
const DERIVED_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/derived_0001_sequences.sql")),
    (2, include_str!("migrations/derived_0002_profiles.sql")),
    (3, include_str!("migrations/derived_0003_clusters.sql")),
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

const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The WAL file is cut back to this size when it is reset after a full checkpoint.
const WAL_SIZE_LIMIT_BYTES: i64 = 64 * 1024 * 1024;
/// A WAL longer than this (in pages: 64 MiB of 4 KiB pages) is started over by a RESTART
/// checkpoint.
const RESTART_AFTER_FRAMES: i64 = 16_384;

fn open_connection(path: &Path, options: &SqliteOptions, read_only: bool) -> StoreResult<Connection> {
    let conn = Connection::open(path)?;
    let synchronous = match options.synchronous {
        Synchronous::Normal => "NORMAL",
        Synchronous::Full => "FULL",
    };
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
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
fn run_checkpointer(connections: Vec<Connection>, stop: mpsc::Receiver<()>) {
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

/// `footprint.db` → `footprint-derived.db`, beside it.
pub(crate) fn derived_path(path: &Path) -> std::path::PathBuf {
    let stem = path.file_stem().map_or_else(|| "footprint".into(), |stem| stem.to_string_lossy().into_owned());
    path.with_file_name(format!("{stem}-derived.db"))
}

/// A writer of one file: WAL checkpoints left to the background thread.
fn open_writer(path: &Path, options: &SqliteOptions, migrations: &[(i64, &str)]) -> StoreResult<Connection> {
    let mut writer = open_connection(path, options, false)?;
    migrate(&mut writer, migrations)?;
    writer.pragma_update(None, "wal_autocheckpoint", 0)?;
    writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)?;
    Ok(writer)
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
            let derived_writer = open_writer(&derived, &options, DERIVED_MIGRATIONS)?;
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

    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let conn = self.readers.get().await.map_err(|error| StoreError::Unavailable(error.to_string()))?;
        tokio::task::spawn_blocking(move || work(&conn)).await?
    }
}

fn find_user(conn: &Connection, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = ?1");
    let row = conn.prepare_cached(&sql)?.query_row([value], user_from_row).optional()?;
    row.transpose()
}

fn taken_by_other(tx: &Transaction<'_>, column: &str, value: &str, user_id: &str) -> StoreResult<bool> {
    let sql = format!("SELECT count(*) > 0 FROM users WHERE {column} = ?1 AND user_id <> ?2");
    Ok(tx.query_row(&sql, params![value, user_id], |row| row.get(0))?)
}

/// Counts an attempt unless the account is locked, atomically, so that parallel guesses
/// cannot all slip under the limit.
const COUNT_LOGIN_ATTEMPT: &str = "UPDATE users SET failed_logins = failed_logins + 1
    WHERE user_id = ?1 AND coalesce(locked_until_us, 0) <= ?2
    RETURNING failed_logins";

const UPSERT_ACCOUNT: &str =
    "INSERT INTO users (user_id, user_key, username, email_enc, email_index, password_hash, role, tier,
                       profile_enc, created_at_us, updated_at_us)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
    ON CONFLICT (user_id) DO UPDATE SET username = excluded.username, email_enc = excluded.email_enc,
        email_index = excluded.email_index, password_hash = excluded.password_hash, role = excluded.role,
        tier = excluded.tier, profile_enc = excluded.profile_enc, updated_at_us = excluded.updated_at_us
    WHERE users.password_hash IS NULL";

fn create_account(conn: &mut Connection, account: &NewAccount) -> StoreResult<UserRecord> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(username) = &account.username
        && taken_by_other(&tx, "username", username, &account.user_id)?
    {
        return Err(StoreError::Conflict(format!("username {username} is already taken")));
    }
    if let Some(index) = &account.email_index
        && taken_by_other(&tx, "email_index", index, &account.user_id)?
    {
        return Err(StoreError::Conflict("email is already taken".to_owned()));
    }
    // A user known only from tracking gains the account; an existing account is never replaced.
    let written = tx.execute(
        UPSERT_ACCOUNT,
        params![
            account.user_id,
            account.user_key,
            account.username,
            account.email_enc,
            account.email_index,
            account.password_hash,
            account.role.as_str(),
            account.tier.as_str(),
            account.profile_enc,
            account.now_us
        ],
    )?;
    if written == 0 {
        return Err(StoreError::Conflict(format!("user_id {} already has an account", account.user_id)));
    }
    let created = find_user(&tx, "user_id", &account.user_id)?.ok_or(StoreError::NotFound)?;
    tx.commit()?;
    Ok(created)
}

fn insert_consent(tx: &Connection, record: &ConsentRecord) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO consents (user_id, analytics, preferences, improvement, source, recorded_at_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        record.user_id,
        record.consent.analytics,
        record.consent.preferences,
        record.consent.improvement,
        record.source,
        record.recorded_at_us
    ])?;
    Ok(())
}

fn load_user_states<'a>(tx: &Transaction<'_>, batch: &'a [NewEvent]) -> StoreResult<HashMap<&'a str, UserState>> {
    let mut known_stmt = tx.prepare_cached("SELECT count(*) > 0 FROM users WHERE user_id = ?1")?;
    let mut latest_stmt = tx.prepare_cached(
        "SELECT session_id, ts_us FROM events WHERE user_key = ?1 ORDER BY ts_us DESC, seq DESC LIMIT 1",
    )?;
    let mut consent_stmt = tx.prepare_cached(
        "SELECT analytics, preferences, improvement, recorded_at_us FROM consents WHERE user_id = ?1 ORDER BY id DESC LIMIT 1",
    )?;
    let mut states = HashMap::new();
    for event in batch {
        if states.contains_key(event.user_id.as_str()) {
            continue;
        }
        let known: bool = known_stmt.query_row([&event.user_id], |row| row.get(0))?;
        let latest = if known {
            latest_stmt
                .query_row([&event.user_key], |row| {
                    Ok(SessionState { session_id: row.get(0)?, last_event_us: row.get(1)? })
                })
                .optional()?
        } else {
            None
        };
        let consent = consent_stmt
            .query_row([&event.user_id], |row| {
                Ok(RecordedConsent {
                    consent: Consent { analytics: row.get(0)?, preferences: row.get(1)?, improvement: row.get(2)? },
                    recorded_at_us: row.get(3)?,
                })
            })
            .optional()?;
        states.insert(event.user_id.as_str(), UserState { known, consent, latest });
    }
    Ok(states)
}

/// The stored event at or before each listed event's time, for late events.
fn load_predecessors(
    tx: &Transaction<'_>,
    batch: &[NewEvent],
    indexes: &[usize],
) -> StoreResult<HashMap<usize, SessionState>> {
    let mut stmt = tx.prepare_cached(
        "SELECT session_id, ts_us FROM events WHERE user_key = ?1 AND ts_us <= ?2 ORDER BY ts_us DESC, seq DESC LIMIT 1",
    )?;
    let mut predecessors = HashMap::new();
    for &index in indexes {
        let event = &batch[index];
        let found = stmt
            .query_row(params![event.user_key, event.timestamp_us], |row| {
                Ok(SessionState { session_id: row.get(0)?, last_event_us: row.get(1)? })
            })
            .optional()?;
        if let Some(found) = found {
            predecessors.insert(index, found);
        }
    }
    Ok(predecessors)
}

fn commit_events(conn: &mut Connection, batch: &[NewEvent], options: &CommitOptions) -> StoreResult<Vec<EventOutcome>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let states = load_user_states(&tx, batch)?;
    let predecessors = load_predecessors(&tx, batch, &needing_predecessor(batch, &states))?;
    let mut plan = plan_batch(batch, states, &predecessors, options);

    for record in &plan.consents {
        insert_consent(&tx, record)?;
    }
    {
        let mut insert_user = tx.prepare_cached(
            "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (user_id) DO UPDATE SET first_seen_us = coalesce(users.first_seen_us, excluded.first_seen_us)",
        )?;
        for user in &plan.new_users {
            insert_user.execute(params![user.user_id, user.user_key, user.first_seen_us, user.now_us])?;
        }
        // The unique (user_key, message_id) index decides duplicates of stored events.
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO events (event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
        )?;
        for (index, session_id) in &plan.inserts {
            let event = &batch[*index];
            let inserted = insert_event.execute(params![
                event.event_id,
                event.user_key,
                event.message_id,
                session_id,
                event.event_type,
                event.properties,
                event.context,
                event.timestamp_us,
                event.received_us
            ])?;
            if inserted == 0 {
                plan.outcomes[*index] = EventOutcome::Duplicate;
            }
        }
    }
    tx.commit()?;
    Ok(plan.outcomes)
}

const EVENT_COLUMNS: &str = "e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type, \
     e.properties, e.context, e.ts_us, e.received_us";

fn commit_sequence_batch(conn: &mut Connection, batch: &SequenceBatch) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let claimed = tx.execute(
        "INSERT INTO processor_state (name, watermark, updated_at_us) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET watermark = excluded.watermark, updated_at_us = excluded.updated_at_us
         WHERE processor_state.watermark = ?4",
        params![batch.processor, batch.new_watermark, batch.now_us, batch.expected_watermark],
    )?;
    if claimed == 0 {
        return Ok(false);
    }
    {
        let mut add = tx.prepare_cached(
            "INSERT INTO sequence_counts (scope, context, next, count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (scope, context, next) DO UPDATE SET count = sequence_counts.count + excluded.count",
        )?;
        for delta in &batch.deltas {
            add.execute(params![delta.scope, delta.context, delta.next, delta.count])?;
        }
        let mut state = tx.prepare_cached(
            "INSERT INTO sequence_state (user_key, recent, last_us, previous_us, n_actions) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_key) DO UPDATE SET recent = excluded.recent, last_us = excluded.last_us,
                previous_us = excluded.previous_us, n_actions = excluded.n_actions",
        )?;
        for record in &batch.states {
            state.execute(params![
                record.user_key,
                record.recent,
                record.last_us,
                record.previous_us,
                record.n_actions
            ])?;
        }
        let mut profile = tx.prepare_cached(
            "INSERT INTO profile_state (user_key, state, updated_at_us) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_key) DO UPDATE SET state = excluded.state, updated_at_us = excluded.updated_at_us",
        )?;
        for record in &batch.profiles {
            profile.execute(params![record.user_key, record.state, record.updated_at_us])?;
        }
    }
    tx.commit()?;
    Ok(true)
}

fn current_watermark(conn: &Connection, processor: &str) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT watermark FROM derived.processor_state WHERE name = ?1")?
        .query_row([processor], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

fn query_events(conn: &Connection, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
    let mut sql = String::from(
        "SELECT e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type, e.properties,
                e.context, e.ts_us, e.received_us
         FROM events e JOIN users u ON u.user_key = e.user_key WHERE 1 = 1",
    );
    let mut values: Vec<Value> = Vec::new();
    if let Some(user_key) = &query.user_key {
        values.push(Value::Text(user_key.clone()));
        sql.push_str(&format!(" AND e.user_key = ?{}", values.len()));
    }
    if let Some(event_type) = &query.event_type {
        values.push(Value::Text(event_type.clone()));
        sql.push_str(&format!(" AND e.type = ?{}", values.len()));
    }
    if let Some(from) = query.from_us {
        values.push(Value::Integer(from));
        sql.push_str(&format!(" AND e.ts_us >= ?{}", values.len()));
    }
    if let Some(to) = query.to_us {
        values.push(Value::Integer(to));
        sql.push_str(&format!(" AND e.ts_us < ?{}", values.len()));
    }
    if let Some(after) = query.after {
        values.push(Value::Integer(after.timestamp_us));
        values.push(Value::Integer(after.seq));
        sql.push_str(&format!(" AND (e.ts_us, e.seq) > (?{}, ?{})", values.len() - 1, values.len()));
    }
    values.push(Value::Integer(i64::from(query.limit)));
    sql.push_str(&format!(" ORDER BY e.ts_us, e.seq LIMIT ?{}", values.len()));
    let mut stmt = conn.prepare_cached(&sql)?;
    let events = stmt.query_map(rusqlite::params_from_iter(values), event_from_row)?.collect::<Result<Vec<_>, _>>()?;
    Ok(events)
}

const MODEL_COLUMNS: &str = "model_id, name, model_type, version, status, hyperparameters, data_window, metrics, \
                             parameters, rows_used, error, predictions, created_at_us, trained_at_us";

fn model_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        model_id: row.get(0)?,
        name: row.get(1)?,
        model_type: row.get(2)?,
        version: row.get(3)?,
        status: row.get(4)?,
        hyperparameters: row.get(5)?,
        data_window: row.get(6)?,
        metrics: row.get(7)?,
        parameters: row.get(8)?,
        rows_used: row.get(9)?,
        error: row.get(10)?,
        predictions: row.get(11)?,
        created_at_us: row.get(12)?,
        trained_at_us: row.get(13)?,
    })
}

/// `type IN (…)` or `type NOT IN (…)` with numbered placeholders starting after `values`.
fn type_condition(types: &TypeSelector, values: &mut Vec<Value>) -> String {
    let (names, negation) = match types {
        TypeSelector::Only(names) => (names, ""),
        TypeSelector::AllExcept(names) => (names, "NOT "),
    };
    if names.is_empty() {
        return if negation.is_empty() { "0 = 1".to_owned() } else { "1 = 1".to_owned() };
    }
    let placeholders: Vec<String> = names
        .iter()
        .map(|name| {
            values.push(Value::Text(name.clone()));
            format!("?{}", values.len())
        })
        .collect();
    format!("type {negation}IN ({})", placeholders.join(", "))
}

/// Replaces each of `scrub` (longest first, so a username holding the id goes whole) by
/// `replacement` in the audit log's actor, subject and detail; returns the entries changed.
fn scrub_audit(tx: &Transaction<'_>, scrub: &[String], replacement: &str) -> StoreResult<u64> {
    let mut values: Vec<&String> = scrub.iter().filter(|value| !value.is_empty()).collect();
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let mut changed = std::collections::HashSet::new();
    for value in values {
        let mut stmt =
            tx.prepare_cached("SELECT id FROM audit_log WHERE actor = ?1 OR subject = ?1 OR instr(detail, ?1) > 0")?;
        for id in stmt.query_map([value], |row| row.get::<_, i64>(0))? {
            changed.insert(id?);
        }
        tx.execute(
            "UPDATE audit_log SET
                 actor = CASE WHEN actor = ?1 THEN ?2 ELSE actor END,
                 subject = CASE WHEN subject = ?1 THEN ?2 ELSE subject END,
                 detail = replace(detail, ?1, ?2)
             WHERE actor = ?1 OR subject = ?1 OR instr(detail, ?1) > 0",
            params![value, replacement],
        )?;
    }
    Ok(changed.len() as u64)
}

const ATTENDANCE_COLUMNS: &str = "event_id, organization_id, name, event_type, start_us, duration_minutes, location, \
                                  capacity, price, instructor, weather, created_at_us, updated_at_us";

fn attendance_event_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttendanceEvent> {
    Ok(AttendanceEvent {
        event_id: row.get(0)?,
        organization_id: row.get(1)?,
        name: row.get(2)?,
        event_type: row.get(3)?,
        start_us: row.get(4)?,
        duration_minutes: row.get(5)?,
        location: row.get(6)?,
        capacity: row.get(7)?,
        price: row.get(8)?,
        instructor: row.get(9)?,
        weather: row.get(10)?,
        created_at_us: row.get(11)?,
        updated_at_us: row.get(12)?,
    })
}

fn registration_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Registration> {
    Ok(Registration {
        event_id: row.get(0)?,
        user_id: row.get(1)?,
        registered_at_us: row.get(2)?,
        attended: row.get(3)?,
        checked_in_at_us: row.get(4)?,
    })
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

    async fn create_account(&self, account: NewAccount) -> StoreResult<UserRecord> {
        self.write(move |conn| create_account(conn, &account)).await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| find_user(conn, "user_id", &user_id)).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        let username = username.to_owned();
        self.read(move |conn| find_user(conn, "username", &username)).await
    }

    async fn user_by_email_index(&self, email_index: &str) -> StoreResult<Option<UserRecord>> {
        let email_index = email_index.to_owned();
        self.read(move |conn| find_user(conn, "email_index", &email_index)).await
    }

    async fn count_admins(&self) -> StoreResult<u64> {
        self.read(|conn| {
            let n: i64 = conn.query_row(
                "SELECT count(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL",
                [],
                |row| row.get(0),
            )?;
            Ok(n.unsigned_abs())
        })
        .await
    }

    async fn count_login_attempt(&self, user_id: &str, now_us: i64) -> StoreResult<Option<i64>> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            let attempts = conn
                .prepare_cached(COUNT_LOGIN_ATTEMPT)?
                .query_row(params![user_id, now_us], |row| row.get(0))
                .optional()?;
            Ok(attempts)
        })
        .await
    }

    async fn set_login_state(
        &self,
        user_id: &str,
        failed_logins: i64,
        locked_until_us: Option<i64>,
    ) -> StoreResult<()> {
        let user_id = user_id.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE users SET failed_logins = ?2, locked_until_us = ?3 WHERE user_id = ?1",
                params![user_id, failed_logins, locked_until_us],
            )?;
            Ok(())
        })
        .await
    }

    async fn update_profile(
        &self,
        user_id: &str,
        profile_enc: &str,
        changed_by: &str,
        now_us: i64,
    ) -> StoreResult<i64> {
        let (user_id, profile_enc, changed_by) = (user_id.to_owned(), profile_enc.to_owned(), changed_by.to_owned());
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let updated = tx.execute(
                "UPDATE users SET profile_enc = ?2, updated_at_us = ?3 WHERE user_id = ?1",
                params![user_id, profile_enc, now_us],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM profile_versions WHERE user_id = ?1",
                [&user_id],
                |row| row.get(0),
            )?;
            tx.execute(
                "INSERT INTO profile_versions (user_id, version, profile_enc, changed_by, created_at_us) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![user_id, version, profile_enc, changed_by, now_us],
            )?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    async fn profile_versions(&self, user_id: &str) -> StoreResult<Vec<ProfileVersion>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT version, profile_enc, changed_by, created_at_us FROM profile_versions WHERE user_id = ?1 ORDER BY version",
            )?;
            let versions = stmt
                .query_map([user_id], |row| {
                    Ok(ProfileVersion {
                        version: row.get(0)?,
                        profile_enc: row.get(1)?,
                        changed_by: row.get(2)?,
                        created_at_us: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(versions)
        })
        .await
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO api_keys (key_id, key_hash, name, scopes, created_at_us, revoked_at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![key.key_id, key.key_hash, key.name, key.scopes.join(","), key.created_at_us, key.revoked_at_us],
            )?;
            Ok(())
        })
        .await
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let key_hash = key_hash.to_owned();
        self.read(move |conn| {
            let key = conn
                .prepare_cached(
                    "SELECT key_id, key_hash, name, scopes, created_at_us, revoked_at_us FROM api_keys WHERE key_hash = ?1",
                )?
                .query_row([key_hash], rows::api_key_from_row)
                .optional()?;
            Ok(key)
        })
        .await
    }

    async fn append_consent(&self, record: ConsentRecord) -> StoreResult<()> {
        self.write(move |conn| insert_consent(conn, &record)).await
    }

    async fn consent_history(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_id, analytics, preferences, improvement, source, recorded_at_us FROM consents
                 WHERE user_id = ?1 ORDER BY id",
            )?;
            let history = stmt.query_map([user_id], consent_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(history)
        })
        .await
    }

    async fn commit_events(&self, batch: Arc<[NewEvent]>, options: CommitOptions) -> StoreResult<Vec<EventOutcome>> {
        self.write(move |conn| commit_events(conn, &batch, &options)).await
    }

    async fn events(&self, query: EventQuery) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| query_events(conn, &query)).await
    }

    async fn user_activity(&self, user_key: &str) -> StoreResult<UserActivity> {
        let user_key = user_key.to_owned();
        self.read(move |conn| {
            let activity = conn
                .prepare_cached("SELECT count(*), min(ts_us), max(ts_us) FROM events WHERE user_key = ?1")?
                .query_row([user_key], |row| {
                    Ok(UserActivity { n_events: row.get(0)?, first_event_us: row.get(1)?, last_event_us: row.get(2)? })
                })?;
            Ok(activity)
        })
        .await
    }

    async fn sessions(&self, user_key: &str) -> StoreResult<Vec<SessionRecord>> {
        let user_key = user_key.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT session_id, min(ts_us) AS started, max(ts_us), count(*) FROM events WHERE user_key = ?1
                 GROUP BY session_id ORDER BY started, session_id",
            )?;
            let sessions = stmt
                .query_map([user_key], |row| {
                    Ok(SessionRecord {
                        session_id: row.get(0)?,
                        started_us: row.get(1)?,
                        last_us: row.get(2)?,
                        n_events: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(sessions)
        })
        .await
    }

    async fn events_in_arrival_order(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events e JOIN users u ON u.user_key = e.user_key WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
            );
            let events = conn.prepare_cached(&sql)?.query_map(params![after_seq, limit], event_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn max_event_seq(&self) -> StoreResult<i64> {
        self.read(|conn| Ok(conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| row.get(0))?)).await
    }

    async fn processing_watermark(&self, processor: &str) -> StoreResult<i64> {
        let processor = processor.to_owned();
        self.read(move |conn| current_watermark(conn, &processor)).await
    }

    async fn sequence_states(&self, user_keys: &[String]) -> StoreResult<Vec<SequenceStateRecord>> {
        let user_keys = user_keys.to_vec();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_key, recent, last_us, previous_us, n_actions FROM derived.sequence_state WHERE user_key = ?1",
            )?;
            let mut states = Vec::new();
            for user_key in &user_keys {
                let found = stmt
                    .query_row([user_key], |row| {
                        Ok(SequenceStateRecord {
                            user_key: row.get(0)?,
                            recent: row.get(1)?,
                            last_us: row.get(2)?,
                            previous_us: row.get(3)?,
                            n_actions: row.get(4)?,
                        })
                    })
                    .optional()?;
                states.extend(found);
            }
            Ok(states)
        })
        .await
    }

    async fn commit_sequence_batch(&self, batch: SequenceBatch) -> StoreResult<bool> {
        self.write_derived(move |conn| commit_sequence_batch(conn, &batch)).await
    }

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
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM cluster_assignments", [])?;
            tx.execute(
                "INSERT INTO cluster_runs (run_id, created_at_us, k, silhouette, n_users, model) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![run.run_id, run.created_at_us, run.k, run.silhouette, run.n_users, run.model],
            )?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO cluster_assignments (run_id, user_key, cluster, distance, x, y) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?;
                for a in &assignments {
                    insert.execute(params![run.run_id, a.user_key, a.cluster, a.distance, a.x, a.y])?;
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
                    "SELECT user_key, cluster, distance, x, y FROM derived.cluster_assignments WHERE run_id = ?1 AND user_key = ?2",
                )?
                .query_row([run_id, user_key], |row| {
                    Ok(ClusterAssignment { user_key: row.get(0)?, cluster: row.get(1)?, distance: row.get(2)?, x: row.get(3)?, y: row.get(4)? })
                })
                .optional()?)
        })
        .await
    }

    async fn cluster_members(&self, run_id: &str, cluster: i64, limit: u32) -> StoreResult<Vec<ClusterAssignment>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_key, cluster, distance, x, y FROM derived.cluster_assignments WHERE run_id = ?1 AND cluster = ?2
                 ORDER BY distance, user_key LIMIT ?3",
            )?;
            let members = stmt
                .query_map(params![run_id, cluster, limit], |row| {
                    Ok(ClusterAssignment { user_key: row.get(0)?, cluster: row.get(1)?, distance: row.get(2)?, x: row.get(3)?, y: row.get(4)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(members)
        })
        .await
    }

    async fn sequence_counts(&self, keys: &[(String, String)]) -> StoreResult<Vec<SequenceCount>> {
        let keys = keys.to_vec();
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached("SELECT next, count FROM derived.sequence_counts WHERE scope = ?1 AND context = ?2")?;
            let mut counts = Vec::new();
            for (scope, context) in &keys {
                let rows = stmt.query_map(params![scope, context], |row| {
                    Ok(SequenceCount {
                        scope: scope.clone(),
                        context: context.clone(),
                        next: row.get(0)?,
                        count: row.get(1)?,
                    })
                })?;
                for row in rows {
                    counts.push(row?);
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn user_action_counts(&self) -> StoreResult<Vec<SequenceCount>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT c.scope, c.next, c.count FROM derived.sequence_state s
                 JOIN derived.sequence_counts c ON c.scope = s.user_key AND c.context = ''
                 ORDER BY c.scope, c.next",
            )?;
            let counts = stmt
                .query_map([], |row| {
                    Ok(SequenceCount {
                        scope: row.get(0)?,
                        context: String::new(),
                        next: row.get(1)?,
                        count: row.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(counts)
        })
        .await
    }

    async fn user_totals(&self) -> StoreResult<Vec<UserTotal>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.user_id, s.user_key, u.username, s.n_actions FROM derived.sequence_state s JOIN users u ON u.user_key = s.user_key
                 ORDER BY s.n_actions DESC, u.user_id",
            )?;
            let totals = stmt
                .query_map([], |row| {
                    Ok(UserTotal { user_id: row.get(0)?, user_key: row.get(1)?, username: row.get(2)?, n_actions: row.get(3)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(totals)
        })
        .await
    }

    async fn count_users(&self) -> StoreResult<UserCounts> {
        self.read(|conn| {
            Ok(conn.query_row("SELECT count(*), count(password_hash) FROM users", [], |row| {
                Ok(UserCounts { users: row.get(0)?, accounts: row.get(1)? })
            })?)
        })
        .await
    }

    async fn expire_events(&self, expiry: EventExpiry) -> StoreResult<u64> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut values = vec![Value::Integer(expiry.before_us), Value::Integer(expiry.up_to_seq)];
            let condition = type_condition(&expiry.types, &mut values);
            let deleted = tx.execute(
                &format!("DELETE FROM events WHERE ts_us < ?1 AND seq <= ?2 AND {condition}"),
                rusqlite::params_from_iter(values),
            )?;
            for aggregate in &expiry.aggregates {
                tx.execute(
                    "INSERT INTO metric_aggregates (kind, day_us, stats, created_at_us) VALUES (?1, ?2, ?3, ?4)",
                    params![aggregate.kind, aggregate.day_us, aggregate.stats, aggregate.created_at_us],
                )?;
            }
            tx.commit()?;
            Ok(deleted as u64)
        })
        .await
    }

    async fn metric_aggregates(&self, kind: &str, from_day_us: i64) -> StoreResult<Vec<MetricAggregate>> {
        let kind = kind.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT kind, day_us, stats, created_at_us FROM metric_aggregates WHERE kind = ?1 AND day_us >= ?2 ORDER BY day_us, id",
            )?;
            let aggregates = stmt
                .query_map(params![kind, from_day_us], |row| {
                    Ok(MetricAggregate { kind: row.get(0)?, day_us: row.get(1)?, stats: row.get(2)?, created_at_us: row.get(3)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(aggregates)
        })
        .await
    }

    async fn create_model(&self, model: ModelRecord) -> StoreResult<ModelRecord> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?1",
                [&model.name],
                |row| row.get(0),
            )?;
            let model = ModelRecord { version, ..model };
            tx.execute(
                &format!("INSERT INTO models ({MODEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    model.model_id,
                    model.name,
                    model.model_type,
                    model.version,
                    model.status,
                    model.hyperparameters,
                    model.data_window,
                    model.metrics,
                    model.parameters,
                    model.rows_used,
                    model.error,
                    model.predictions,
                    model.created_at_us,
                    model.trained_at_us
                ],
            )
            .map_err(|error| match error.sqlite_error_code() {
                Some(rusqlite::ErrorCode::ConstraintViolation) => StoreError::Conflict("model id".to_owned()),
                _ => error.into(),
            })?;
            tx.commit()?;
            Ok(model)
        })
        .await
    }

    async fn update_model(&self, model: ModelRecord) -> StoreResult<()> {
        self.write(move |conn| {
            let updated = conn.execute(
                "UPDATE models SET status = ?2, metrics = ?3, parameters = ?4, rows_used = ?5, error = ?6, trained_at_us = ?7,
                        data_window = ?8
                 WHERE model_id = ?1",
                params![
                    model.model_id,
                    model.status,
                    model.metrics,
                    model.parameters,
                    model.rows_used,
                    model.error,
                    model.trained_at_us,
                    model.data_window
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn model(&self, model_id: &str) -> StoreResult<Option<ModelRecord>> {
        let model_id = model_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE model_id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([model_id], model_from_row).optional()?)
        })
        .await
    }

    async fn models(&self, filter: ModelFilter) -> StoreResult<Vec<ModelRecord>> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE 1 = 1");
            let mut values: Vec<Value> = Vec::new();
            for (column, value) in [("name", filter.name), ("model_type", filter.model_type), ("status", filter.status)]
            {
                if let Some(value) = value {
                    values.push(Value::Text(value));
                    sql.push_str(&format!(" AND {column} = ?{}", values.len()));
                }
            }
            sql.push_str(" ORDER BY created_at_us DESC, version DESC");
            let models = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(values), model_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(models)
        })
        .await
    }

    async fn erase_user(&self, erasure: Erasure) -> StoreResult<IdentityChange> {
        // Derived rows first: a crash in between leaves the user whole, and erasing again
        // finishes the job.
        let user_key = erasure.user_key.clone();
        let derived_rows = self
            .write_derived(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut removed = tx.execute("DELETE FROM sequence_state WHERE user_key = ?1", [&user_key])?;
                removed += tx.execute("DELETE FROM sequence_counts WHERE scope = ?1", [&user_key])?;
                removed += tx.execute("DELETE FROM profile_state WHERE user_key = ?1", [&user_key])?;
                removed += tx.execute("DELETE FROM cluster_assignments WHERE user_key = ?1", [&user_key])?;
                tx.commit()?;
                Ok(removed as u64)
            })
            .await?;
        let mut change = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let events = tx.execute("DELETE FROM events WHERE user_key = ?1", [&erasure.user_key])? as u64;
                let consents = tx.execute("DELETE FROM consents WHERE user_id = ?1", [&erasure.user_id])? as u64;
                tx.execute("DELETE FROM profile_versions WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM attendance_registrations WHERE user_id = ?1", [&erasure.user_id])?;
                let account = tx.execute("DELETE FROM users WHERE user_id = ?1", [&erasure.user_id])? > 0;
                tx.execute(
                    "INSERT INTO erasures (tombstone, erased_at_us) VALUES (?1, ?2)
                     ON CONFLICT (tombstone) DO UPDATE SET erased_at_us = excluded.erased_at_us",
                    params![erasure.tombstone, erasure.now_us],
                )?;
                let audit_entries = scrub_audit(&tx, &erasure.scrub, &erasure.replacement)?;
                tx.commit()?;
                Ok(IdentityChange { account, events, consents, derived_rows: 0, audit_entries })
            })
            .await?;
        change.derived_rows = derived_rows;
        Ok(change)
    }

    async fn erased_among(&self, tombstones: &[String]) -> StoreResult<Vec<String>> {
        let tombstones = tombstones.to_vec();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT 1 FROM erasures WHERE tombstone = ?1")?;
            let mut erased = Vec::new();
            for tombstone in tombstones {
                if stmt.exists([&tombstone])? {
                    erased.push(tombstone);
                }
            }
            Ok(erased)
        })
        .await
    }

    async fn clear_tombstone(&self, tombstone: &str) -> StoreResult<()> {
        let tombstone = tombstone.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM erasures WHERE tombstone = ?1", [tombstone])?;
            Ok(())
        })
        .await
    }

    async fn anonymize_user(&self, change: Anonymization) -> StoreResult<IdentityChange> {
        let (old_key, new_key) = (change.user_key.clone(), change.new_user_key.clone());
        let derived_rows = self
            .write_derived(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let mut moved =
                    tx.execute("UPDATE sequence_state SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                moved += tx.execute("UPDATE sequence_counts SET scope = ?2 WHERE scope = ?1", [&old_key, &new_key])?;
                moved +=
                    tx.execute("UPDATE profile_state SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                moved += tx.execute(
                    "UPDATE cluster_assignments SET user_key = ?2 WHERE user_key = ?1",
                    [&old_key, &new_key],
                )?;
                tx.commit()?;
                Ok(moved as u64)
            })
            .await?;
        let mut result = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let first_seen: Option<Option<i64>> = tx
                    .query_row("SELECT first_seen_us FROM users WHERE user_id = ?1", [&change.user_id], |row| row.get(0))
                    .optional()?;
                let account = tx.execute("DELETE FROM users WHERE user_id = ?1", [&change.user_id])? > 0;
                tx.execute(
                    "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![change.new_user_id, change.new_user_key, first_seen.flatten(), change.now_us],
                )?;
                let events =
                    tx.execute("UPDATE events SET user_key = ?2 WHERE user_key = ?1", [&change.user_key, &change.new_user_key])?
                        as u64;
                let consents = tx.execute("DELETE FROM consents WHERE user_id = ?1", [&change.user_id])? as u64;
                tx.execute("DELETE FROM profile_versions WHERE user_id = ?1", [&change.user_id])?;
                tx.execute(
                    "UPDATE attendance_registrations SET user_id = ?2 WHERE user_id = ?1",
                    [&change.user_id, &change.new_user_id],
                )?;
                let audit_entries = scrub_audit(&tx, &change.scrub, &change.new_user_id)?;
                tx.commit()?;
                Ok(IdentityChange { account, events, consents, derived_rows: 0, audit_entries })
            })
            .await?;
        result.derived_rows = derived_rows;
        Ok(result)
    }

    async fn upsert_attendance_event(&self, event: AttendanceEvent) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existed: bool =
                tx.query_row("SELECT count(*) FROM attendance_events WHERE event_id = ?1", [&event.event_id], |row| {
                    row.get::<_, i64>(0)
                })? > 0;
            tx.execute(
                &format!(
                    "INSERT INTO attendance_events ({ATTENDANCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     ON CONFLICT (event_id) DO UPDATE SET organization_id = excluded.organization_id, name = excluded.name,
                        event_type = excluded.event_type, start_us = excluded.start_us,
                        duration_minutes = excluded.duration_minutes, location = excluded.location,
                        capacity = excluded.capacity, price = excluded.price, instructor = excluded.instructor,
                        weather = excluded.weather, updated_at_us = excluded.updated_at_us"
                ),
                params![
                    event.event_id,
                    event.organization_id,
                    event.name,
                    event.event_type,
                    event.start_us,
                    event.duration_minutes,
                    event.location,
                    event.capacity,
                    event.price,
                    event.instructor,
                    event.weather,
                    event.created_at_us,
                    event.updated_at_us
                ],
            )?;
            tx.commit()?;
            Ok(!existed)
        })
        .await
    }

    async fn attendance_event(&self, event_id: &str) -> StoreResult<Option<AttendanceEvent>> {
        let event_id = event_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {ATTENDANCE_COLUMNS} FROM attendance_events WHERE event_id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([event_id], attendance_event_from_row).optional()?)
        })
        .await
    }

    async fn attendance_events(&self, query: AttendanceQuery) -> StoreResult<Vec<AttendanceEvent>> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {ATTENDANCE_COLUMNS} FROM attendance_events WHERE 1 = 1");
            let mut values: Vec<Value> = Vec::new();
            if let Some(organization) = query.organization_id {
                values.push(Value::Text(organization));
                sql.push_str(&format!(" AND organization_id = ?{}", values.len()));
            }
            if let Some(from) = query.from_us {
                values.push(Value::Integer(from));
                sql.push_str(&format!(" AND start_us >= ?{}", values.len()));
            }
            if let Some(to) = query.to_us {
                values.push(Value::Integer(to));
                sql.push_str(&format!(" AND start_us < ?{}", values.len()));
            }
            if let Some((start, id)) = query.after {
                values.push(Value::Integer(start));
                values.push(Value::Text(id));
                sql.push_str(&format!(" AND (start_us, event_id) > (?{}, ?{})", values.len() - 1, values.len()));
            }
            values.push(Value::Integer(i64::from(query.limit)));
            sql.push_str(&format!(" ORDER BY start_us, event_id LIMIT ?{}", values.len()));
            let events = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(values), attendance_event_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(events)
        })
        .await
    }

    async fn delete_attendance_event(&self, event_id: &str) -> StoreResult<bool> {
        let event_id = event_id.to_owned();
        self.write(move |conn| Ok(conn.execute("DELETE FROM attendance_events WHERE event_id = ?1", [event_id])? > 0))
            .await
    }

    async fn upsert_registration(&self, registration: Registration) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let event_exists: bool = tx.query_row(
                "SELECT count(*) FROM attendance_events WHERE event_id = ?1",
                [&registration.event_id],
                |row| row.get::<_, i64>(0),
            )? > 0;
            if !event_exists {
                return Err(StoreError::NotFound);
            }
            let existed: bool = tx.query_row(
                "SELECT count(*) FROM attendance_registrations WHERE event_id = ?1 AND user_id = ?2",
                [&registration.event_id, &registration.user_id],
                |row| row.get::<_, i64>(0),
            )? > 0;
            tx.execute(
                "INSERT INTO attendance_registrations (event_id, user_id, registered_at_us, attended, checked_in_at_us)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (event_id, user_id) DO UPDATE SET registered_at_us = excluded.registered_at_us,
                    attended = excluded.attended, checked_in_at_us = excluded.checked_in_at_us",
                params![
                    registration.event_id,
                    registration.user_id,
                    registration.registered_at_us,
                    registration.attended,
                    registration.checked_in_at_us
                ],
            )?;
            tx.commit()?;
            Ok(!existed)
        })
        .await
    }

    async fn set_attended(
        &self,
        event_id: &str,
        user_id: &str,
        attended: bool,
        checked_in_at_us: Option<i64>,
    ) -> StoreResult<bool> {
        let (event_id, user_id) = (event_id.to_owned(), user_id.to_owned());
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE attendance_registrations SET attended = ?3, checked_in_at_us = ?4 WHERE event_id = ?1 AND user_id = ?2",
                params![event_id, user_id, attended, checked_in_at_us],
            )? > 0)
        })
        .await
    }

    async fn registrations(&self, event_ids: &[String]) -> StoreResult<Vec<Registration>> {
        let mut event_ids = event_ids.to_vec();
        event_ids.sort_unstable();
        event_ids.dedup();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event_id, user_id, registered_at_us, attended, checked_in_at_us FROM attendance_registrations
                 WHERE event_id = ?1 ORDER BY user_id",
            )?;
            let mut registrations = Vec::new();
            for event_id in event_ids {
                for row in stmt.query_map([event_id], registration_from_row)? {
                    registrations.push(row?);
                }
            }
            Ok(registrations)
        })
        .await
    }

    async fn record_audit(&self, entry: AuditEntry) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO audit_log (at_us, action, actor, subject, outcome, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![entry.at_us, entry.action, entry.actor, entry.subject, entry.outcome, entry.detail],
            )?;
            Ok(())
        })
        .await
    }

    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at_us, action, actor, subject, outcome, detail FROM audit_log ORDER BY id DESC LIMIT ?1",
            )?;
            let entries = stmt
                .query_map([limit], |row| {
                    Ok(AuditEntry {
                        at_us: row.get(0)?,
                        action: row.get(1)?,
                        actor: row.get(2)?,
                        subject: row.get(3)?,
                        outcome: row.get(4)?,
                        detail: row.get(5)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(entries)
        })
        .await
    }
}
