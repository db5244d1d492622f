//! The embedded SQLite backend. Two database files: the primary one (users, consents, events…)
//! and a *derived* one (what processing computes from the events), each with one writer
//! connection that serialises its writes, so that processing never holds up the commit of new
//! events. A pool of read-only connections sees both (the derived file is attached as
//! `derived`) and reads concurrently thanks to WAL. Blocking calls run on tokio's blocking pool.
//! A background thread checkpoints both WALs, so that no commit pays for copying pages.

mod attendance;
mod files;
mod privacy;
mod registry;
mod rows;
mod segments;
mod sequences;

use std::collections::HashMap;
use std::path::Path;
use std::sync::mpsc::{self};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use footprint_analytics::Consent;
use footprint_analytics::session::SessionState;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::plan::{RecordedConsent, UserState, needing_predecessor, plan_batch};
use crate::{Store, now_us};
pub(crate) use files::derived_path;
use files::{open_connection, open_writer, run_checkpointer};
use rows::{USER_COLUMNS, consent_from_row, event_from_row, user_from_row};

const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_foundation.sql")),
    (2, include_str!("migrations/0002_retention_models.sql")),
    (3, include_str!("migrations/0003_erasures.sql")),
    (4, include_str!("migrations/0004_profile_versions.sql")),
    (5, include_str!("migrations/0005_attendance.sql")),
    (6, include_str!("migrations/0006_ml_calls.sql")),
    (7, include_str!("migrations/0007_attendance_history_index.sql")),
    (8, include_str!("migrations/0008_repair_version_2.sql")),
];
/// The derived database: what processing computes from the events.
const DERIVED_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/derived_0001_sequences.sql")),
    (2, include_str!("migrations/derived_0002_profiles.sql")),
    (3, include_str!("migrations/derived_0003_clusters.sql")),
    (4, include_str!("migrations/derived_0004_cluster_user.sql")),
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
            let derived_writer = open_writer(&derived, &options, DERIVED_MIGRATIONS)?;
            // Processing commits read the users table: rows of users no longer stored (erased,
            // anonymised) are left out.
            derived_writer.execute("ATTACH DATABASE ?1 AS store", [path.to_string_lossy()])?;
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
        sequences::processing_watermark(self, processor).await
    }

    async fn sequence_states(&self, user_keys: &[String]) -> StoreResult<Vec<SequenceStateRecord>> {
        sequences::sequence_states(self, user_keys).await
    }

    async fn commit_sequence_batch(&self, batch: SequenceBatch) -> StoreResult<bool> {
        sequences::commit_sequence_batch(self, batch).await
    }

    async fn profile_states(&self, user_keys: &[String]) -> StoreResult<Vec<ProfileStateRecord>> {
        segments::profile_states(self, user_keys).await
    }

    async fn all_profile_states(&self, after_key: &str, limit: u32) -> StoreResult<Vec<ProfileStateRecord>> {
        segments::all_profile_states(self, after_key, limit).await
    }

    async fn save_cluster_run(&self, run: ClusterRun, assignments: Vec<ClusterAssignment>) -> StoreResult<()> {
        segments::save_cluster_run(self, run, assignments).await
    }

    async fn cluster_runs(&self, limit: u32) -> StoreResult<Vec<ClusterRun>> {
        segments::cluster_runs(self, limit).await
    }

    async fn cluster_assignment(&self, run_id: &str, user_key: &str) -> StoreResult<Option<ClusterAssignment>> {
        segments::cluster_assignment(self, run_id, user_key).await
    }

    async fn cluster_members(&self, run_id: &str, cluster: i64, limit: u32) -> StoreResult<Vec<ClusterAssignment>> {
        segments::cluster_members(self, run_id, cluster, limit).await
    }

    async fn sequence_counts(&self, keys: &[(String, String)]) -> StoreResult<Vec<SequenceCount>> {
        sequences::sequence_counts(self, keys).await
    }

    async fn user_action_counts(&self) -> StoreResult<Vec<SequenceCount>> {
        sequences::user_action_counts(self).await
    }

    async fn user_totals(&self) -> StoreResult<Vec<UserTotal>> {
        sequences::user_totals(self).await
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
        registry::expire_events(self, expiry).await
    }

    async fn metric_aggregates(&self, kind: &str, from_day_us: i64) -> StoreResult<Vec<MetricAggregate>> {
        registry::metric_aggregates(self, kind, from_day_us).await
    }

    async fn create_model(&self, model: ModelRecord) -> StoreResult<ModelRecord> {
        registry::create_model(self, model).await
    }

    async fn update_model(&self, model: ModelRecord) -> StoreResult<()> {
        registry::update_model(self, model).await
    }

    async fn model(&self, model_id: &str) -> StoreResult<Option<ModelRecord>> {
        registry::model(self, model_id).await
    }

    async fn models(&self, filter: ModelFilter) -> StoreResult<Vec<ModelRecord>> {
        registry::models(self, filter).await
    }

    async fn record_ml_call(&self, call: MlCall) -> StoreResult<()> {
        registry::record_ml_call(self, call).await
    }

    async fn ml_call_buckets(&self, from_us: i64) -> StoreResult<Vec<MlCallBucket>> {
        registry::ml_call_buckets(self, from_us).await
    }

    async fn expire_ml_calls(&self, before_us: i64) -> StoreResult<u64> {
        registry::expire_ml_calls(self, before_us).await
    }

    async fn erase_user(&self, erasure: Erasure) -> StoreResult<IdentityChange> {
        privacy::erase_user(self, erasure).await
    }

    async fn erased_among(&self, tombstones: &[String]) -> StoreResult<Vec<String>> {
        privacy::erased_among(self, tombstones).await
    }

    async fn clear_tombstone(&self, tombstone: &str) -> StoreResult<()> {
        privacy::clear_tombstone(self, tombstone).await
    }

    async fn anonymize_user(&self, change: Anonymization) -> StoreResult<IdentityChange> {
        privacy::anonymize_user(self, change).await
    }

    async fn upsert_attendance_event(&self, event: AttendanceEvent) -> StoreResult<bool> {
        attendance::upsert_attendance_event(self, event).await
    }

    async fn attendance_event(&self, event_id: &str) -> StoreResult<Option<AttendanceEvent>> {
        attendance::attendance_event(self, event_id).await
    }

    async fn attendance_events(&self, query: AttendanceQuery) -> StoreResult<Vec<AttendanceEvent>> {
        attendance::attendance_events(self, query).await
    }

    async fn delete_attendance_event(&self, event_id: &str) -> StoreResult<bool> {
        attendance::delete_attendance_event(self, event_id).await
    }

    async fn upsert_registration(&self, registration: Registration) -> StoreResult<bool> {
        attendance::upsert_registration(self, registration).await
    }

    async fn set_attended(
        &self,
        event_id: &str,
        user_id: &str,
        attended: bool,
        checked_in_at_us: Option<i64>,
    ) -> StoreResult<bool> {
        attendance::set_attended(self, event_id, user_id, attended, checked_in_at_us).await
    }

    async fn registrations(&self, event_ids: &[String]) -> StoreResult<Vec<Registration>> {
        attendance::registrations(self, event_ids).await
    }

    async fn user_registrations(&self, user_id: &str) -> StoreResult<Vec<Registration>> {
        attendance::user_registrations(self, user_id).await
    }

    async fn attendance_histories(&self, user_ids: &[String], before_us: i64) -> StoreResult<Vec<AttendanceHistory>> {
        attendance::attendance_histories(self, user_ids, before_us).await
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
