//! The PostgreSQL backend: a deadpool connection pool; batches are written with one
//! `INSERT … SELECT FROM unnest(…)` per table. Several nodes may share one database: event
//! batches commit one at a time (a transaction-scoped advisory lock), so sessions and
//! idempotency are judged on a consistent view and `seq` follows commit order.

mod attendance;
mod privacy;
mod registry;
mod rows;
mod segments;
mod sequences;

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use footprint_analytics::Consent;
use footprint_analytics::session::SessionState;
use tokio_postgres::NoTls;
use tokio_postgres::types::ToSql;

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::plan::{RecordedConsent, UserState, needing_predecessor, plan_batch};
use crate::{Store, now_us};
use rows::{USER_COLUMNS, api_key_from_row, audit_from_row, consent_from_row, event_from_row, user_from_row};

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
];
const EVENT_COLUMNS: &str = "e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type, \
     e.properties::text, e.context::text, e.ts_us, e.received_us";
/// Held while migrating so that nodes starting together migrate once.
const MIGRATION_LOCK: i64 = 0x666f_6f74_7072_696e;
/// Held by each ingestion transaction (see `commit_events`).
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

    async fn find_user(&self, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
        let client = self.pool.get().await?;
        find_user(&client, column, value).await
    }
}

async fn find_user(client: &impl GenericClient, column: &str, value: &str) -> StoreResult<Option<UserRecord>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {column} = $1");
    let row = client.query_opt(&sql, &[&value]).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Maps a unique violation to the conflict it means for an account.
fn account_conflict(error: tokio_postgres::Error, account: &NewAccount) -> StoreError {
    let Some(db_error) = error.as_db_error() else {
        return error.into();
    };
    if db_error.code() != &tokio_postgres::error::SqlState::UNIQUE_VIOLATION {
        return error.into();
    }
    match db_error.constraint() {
        Some("users_username_key") => StoreError::Conflict(format!(
            "username {} is already taken",
            account.username.as_deref().unwrap_or_default()
        )),
        Some("users_email_index_key") => StoreError::Conflict("email is already taken".to_owned()),
        _ => StoreError::Conflict(format!("user_id {} already has an account", account.user_id)),
    }
}

async fn create_account(client: &mut deadpool_postgres::Client, account: &NewAccount) -> StoreResult<UserRecord> {
    let tx = client.transaction().await?;
    // A user known only from tracking gains the account; an existing account is never replaced.
    let written = tx
        .execute(
            "INSERT INTO users (user_id, user_key, username, email_enc, email_index, password_hash, role, tier, profile_enc,
                                created_at_us, updated_at_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)
             ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, email_enc = EXCLUDED.email_enc,
                email_index = EXCLUDED.email_index, password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
                tier = EXCLUDED.tier, profile_enc = EXCLUDED.profile_enc, updated_at_us = EXCLUDED.updated_at_us
             WHERE users.password_hash IS NULL",
            &[
                &account.user_id,
                &account.user_key,
                &account.username,
                &account.email_enc,
                &account.email_index,
                &account.password_hash,
                &account.role.as_str(),
                &account.tier.as_str(),
                &account.profile_enc,
                &account.now_us,
            ],
        )
        .await;
    match written {
        Ok(1) => {}
        Ok(_) => {
            return Err(StoreError::Conflict(format!("user_id {} already has an account", account.user_id)));
        }
        Err(error) => return Err(account_conflict(error, account)),
    }
    let created = find_user(&tx, "user_id", &account.user_id).await?.ok_or(StoreError::NotFound)?;
    tx.commit().await?;
    Ok(created)
}

async fn insert_consents(client: &impl GenericClient, records: &[ConsentRecord]) -> StoreResult<()> {
    if records.is_empty() {
        return Ok(());
    }
    let user_ids: Vec<&str> = records.iter().map(|r| r.user_id.as_str()).collect();
    let analytics: Vec<bool> = records.iter().map(|r| r.consent.analytics).collect();
    let preferences: Vec<bool> = records.iter().map(|r| r.consent.preferences).collect();
    let improvement: Vec<bool> = records.iter().map(|r| r.consent.improvement).collect();
    let sources: Vec<&str> = records.iter().map(|r| r.source.as_str()).collect();
    let times: Vec<i64> = records.iter().map(|r| r.recorded_at_us).collect();
    client
        .execute(
            "INSERT INTO consents (user_id, analytics, preferences, improvement, source, recorded_at_us)
             SELECT * FROM unnest($1::text[], $2::bool[], $3::bool[], $4::bool[], $5::text[], $6::int8[])",
            &[&user_ids, &analytics, &preferences, &improvement, &sources, &times],
        )
        .await?;
    Ok(())
}

async fn load_user_states<'a>(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &'a [NewEvent],
) -> StoreResult<HashMap<&'a str, UserState>> {
    let mut states: HashMap<&'a str, UserState> = HashMap::new();
    let mut id_of_key: HashMap<&str, &'a str> = HashMap::new();
    for event in batch {
        states.entry(event.user_id.as_str()).or_default();
        id_of_key.insert(event.user_key.as_str(), event.user_id.as_str());
    }
    let user_ids: Vec<&str> = states.keys().copied().collect();
    let user_keys: Vec<&str> = id_of_key.keys().copied().collect();
    let known =
        tx.query(&tx.prepare_cached("SELECT user_id FROM users WHERE user_id = ANY($1)").await?, &[&user_ids]).await?;
    for row in known {
        let user_id: &str = row.get(0);
        if let Some(state) = states.get_mut(user_id) {
            state.known = true;
        }
    }
    let latest = tx
        .query(
            &tx.prepare_cached(
                "SELECT u.key, e.session_id, e.ts_us FROM unnest($1::text[]) AS u(key)
                 CROSS JOIN LATERAL (
                    SELECT session_id, ts_us FROM events WHERE user_key = u.key ORDER BY ts_us DESC, seq DESC LIMIT 1
                 ) AS e",
            )
            .await?,
            &[&user_keys],
        )
        .await?;
    for row in latest {
        let user_key: &str = row.get(0);
        if let Some(state) = id_of_key.get(user_key).and_then(|user_id| states.get_mut(user_id)) {
            state.latest = Some(SessionState { session_id: row.get(1), last_event_us: row.get(2) });
        }
    }
    let consents = tx
        .query(
            &tx.prepare_cached(
                "SELECT DISTINCT ON (user_id) user_id, analytics, preferences, improvement, recorded_at_us FROM consents
                 WHERE user_id = ANY($1) ORDER BY user_id, id DESC",
            )
            .await?,
            &[&user_ids],
        )
        .await?;
    for row in consents {
        let user_id: &str = row.get(0);
        if let Some(state) = states.get_mut(user_id) {
            let consent = Consent { analytics: row.get(1), preferences: row.get(2), improvement: row.get(3) };
            state.consent = Some(RecordedConsent { consent, recorded_at_us: row.get(4) });
        }
    }
    Ok(states)
}

/// The stored event at or before each listed event's time, for late events.
async fn load_predecessors(
    tx: &deadpool_postgres::Transaction<'_>,
    batch: &[NewEvent],
    indexes: &[usize],
) -> StoreResult<HashMap<usize, SessionState>> {
    if indexes.is_empty() {
        return Ok(HashMap::new());
    }
    let positions: Vec<i64> = indexes.iter().map(|&index| index as i64).collect();
    let keys: Vec<&str> = indexes.iter().map(|&index| batch[index].user_key.as_str()).collect();
    let times: Vec<i64> = indexes.iter().map(|&index| batch[index].timestamp_us).collect();
    let rows = tx
        .query(
            &tx.prepare_cached(
                "SELECT l.position, e.session_id, e.ts_us FROM unnest($1::int8[], $2::text[], $3::int8[]) AS l(position, key, ts)
                 CROSS JOIN LATERAL (
                    SELECT session_id, ts_us FROM events WHERE user_key = l.key AND ts_us <= l.ts ORDER BY ts_us DESC, seq DESC LIMIT 1
                 ) AS e",
            )
            .await?,
            &[&positions, &keys, &times],
        )
        .await?;
    let mut predecessors = HashMap::new();
    for row in rows {
        let position: i64 = row.get(0);
        if let Ok(index) = usize::try_from(position) {
            predecessors.insert(index, SessionState { session_id: row.get(1), last_event_us: row.get(2) });
        }
    }
    Ok(predecessors)
}

async fn commit_events(
    client: &mut deadpool_postgres::Client,
    batch: &[NewEvent],
    options: &CommitOptions,
) -> StoreResult<Vec<EventOutcome>> {
    let tx = client.transaction().await?;
    // One ingestion transaction at a time across all nodes: `seq` values are then handed out in
    // commit order, so a processor following `seq` never passes an event still to be committed;
    // it also makes each batch's view of its users' state consistent.
    tx.execute(&tx.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?, &[&INGEST_LOCK]).await?;
    let states = load_user_states(&tx, batch).await?;
    let predecessors = load_predecessors(&tx, batch, &needing_predecessor(batch, &states)).await?;
    let mut plan = plan_batch(batch, states, &predecessors, options);

    insert_consents(&tx, &plan.consents).await?;
    if !plan.new_users.is_empty() {
        let ids: Vec<&str> = plan.new_users.iter().map(|u| u.user_id.as_str()).collect();
        let keys: Vec<&str> = plan.new_users.iter().map(|u| u.user_key.as_str()).collect();
        let first: Vec<i64> = plan.new_users.iter().map(|u| u.first_seen_us).collect();
        let now: Vec<i64> = plan.new_users.iter().map(|u| u.now_us).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us)
                 SELECT u, k, f, t, t FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[]) AS x(u, k, f, t)
                 ON CONFLICT (user_id) DO UPDATE SET first_seen_us = COALESCE(users.first_seen_us, EXCLUDED.first_seen_us)",
            )
            .await?,
            &[&ids, &keys, &first, &now],
        )
        .await?;
    }
    if !plan.inserts.is_empty() {
        let events: Vec<&NewEvent> = plan.inserts.iter().map(|(index, _)| &batch[*index]).collect();
        let event_ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
        let keys: Vec<&str> = events.iter().map(|e| e.user_key.as_str()).collect();
        let message_ids: Vec<Option<&str>> = events.iter().map(|e| e.message_id.as_deref()).collect();
        let sessions: Vec<&str> = plan.inserts.iter().map(|(_, session)| session.as_str()).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let properties: Vec<&str> = events.iter().map(|e| e.properties.as_str()).collect();
        let contexts: Vec<&str> = events.iter().map(|e| e.context.as_str()).collect();
        let times: Vec<i64> = events.iter().map(|e| e.timestamp_us).collect();
        let received: Vec<i64> = events.iter().map(|e| e.received_us).collect();
        let params: [&(dyn ToSql + Sync); 9] =
            [&event_ids, &keys, &message_ids, &sessions, &types, &properties, &contexts, &times, &received];
        // The unique (user_key, message_id) index decides duplicates of stored events, also
        // across nodes; what it skipped is not returned.
        let inserted = tx
            .query(
                &tx.prepare_cached(
                    "INSERT INTO events (event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us)
                     SELECT e, k, m, s, t, p::jsonb, c::jsonb, ts, r
                     FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                 $8::int8[], $9::int8[]) AS x(e, k, m, s, t, p, c, ts, r)
                     ON CONFLICT DO NOTHING
                     RETURNING event_id",
                )
                .await?,
                &params,
            )
            .await?;
        let inserted: HashSet<String> = inserted.into_iter().map(|row| row.get(0)).collect();
        for (index, _) in &plan.inserts {
            if !inserted.contains(&batch[*index].event_id) {
                plan.outcomes[*index] = EventOutcome::Duplicate;
            }
        }
    }
    tx.commit().await?;
    Ok(plan.outcomes)
}

async fn query_events(client: &impl GenericClient, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
    let mut sql = String::from(
        "SELECT e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type,
                e.properties::text, e.context::text, e.ts_us, e.received_us
         FROM events e JOIN users u ON u.user_key = e.user_key WHERE TRUE",
    );
    let limit = i64::from(query.limit);
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    if let Some(user_key) = &query.user_key {
        params.push(user_key);
        sql.push_str(&format!(" AND e.user_key = ${}", params.len()));
    }
    if let Some(event_type) = &query.event_type {
        params.push(event_type);
        sql.push_str(&format!(" AND e.type = ${}", params.len()));
    }
    if let Some(from) = &query.from_us {
        params.push(from);
        sql.push_str(&format!(" AND e.ts_us >= ${}", params.len()));
    }
    if let Some(to) = &query.to_us {
        params.push(to);
        sql.push_str(&format!(" AND e.ts_us < ${}", params.len()));
    }
    if let Some(after) = &query.after {
        params.push(&after.timestamp_us);
        params.push(&after.seq);
        sql.push_str(&format!(" AND (e.ts_us, e.seq) > (${}, ${})", params.len() - 1, params.len()));
    }
    params.push(&limit);
    sql.push_str(&format!(" ORDER BY e.ts_us, e.seq LIMIT ${}", params.len()));
    let rows = client.query(&sql, &params).await?;
    Ok(rows.iter().map(event_from_row).collect())
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

    async fn create_account(&self, account: NewAccount) -> StoreResult<UserRecord> {
        let mut client = self.pool.get().await?;
        create_account(&mut client, &account).await
    }

    async fn user(&self, user_id: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("user_id", user_id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("username", username).await
    }

    async fn user_by_email_index(&self, email_index: &str) -> StoreResult<Option<UserRecord>> {
        self.find_user("email_index", email_index).await
    }

    async fn count_admins(&self) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT count(*) FROM users WHERE role = 'admin' AND password_hash IS NOT NULL", &[])
            .await?;
        Ok(row.get::<_, i64>(0).unsigned_abs())
    }

    async fn count_login_attempt(&self, user_id: &str, now_us: i64) -> StoreResult<Option<i64>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "UPDATE users SET failed_logins = failed_logins + 1
                 WHERE user_id = $1 AND COALESCE(locked_until_us, 0) <= $2
                 RETURNING failed_logins",
                &[&user_id, &now_us],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn set_login_state(
        &self,
        user_id: &str,
        failed_logins: i64,
        locked_until_us: Option<i64>,
    ) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE users SET failed_logins = $2, locked_until_us = $3 WHERE user_id = $1",
                &[&user_id, &failed_logins, &locked_until_us],
            )
            .await?;
        Ok(())
    }

    async fn update_profile(
        &self,
        user_id: &str,
        profile_enc: &str,
        changed_by: &str,
        now_us: i64,
    ) -> StoreResult<i64> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // The user's row lock orders concurrent updates: versions are numbered one at a time.
        let updated = tx
            .execute(
                "UPDATE users SET profile_enc = $2, updated_at_us = $3 WHERE user_id = $1",
                &[&user_id, &profile_enc, &now_us],
            )
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        let version: i64 = tx
            .query_one("SELECT coalesce(max(version), 0) + 1 FROM profile_versions WHERE user_id = $1", &[&user_id])
            .await?
            .get(0);
        tx.execute(
            "INSERT INTO profile_versions (user_id, version, profile_enc, changed_by, created_at_us) VALUES ($1, $2, $3, $4, $5)",
            &[&user_id, &version, &profile_enc, &changed_by, &now_us],
        )
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn profile_versions(&self, user_id: &str) -> StoreResult<Vec<ProfileVersion>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT version, profile_enc, changed_by, created_at_us FROM profile_versions WHERE user_id = $1 ORDER BY version",
                &[&user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ProfileVersion {
                version: row.get(0),
                profile_enc: row.get(1),
                changed_by: row.get(2),
                created_at_us: row.get(3),
            })
            .collect())
    }

    async fn insert_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO api_keys (key_id, key_hash, name, scopes, created_at_us, revoked_at_us) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&key.key_id, &key.key_hash, &key.name, &key.scopes.join(","), &key.created_at_us, &key.revoked_at_us],
            )
            .await?;
        Ok(())
    }

    async fn api_key_by_hash(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT key_id, key_hash, name, scopes, created_at_us, revoked_at_us FROM api_keys WHERE key_hash = $1",
                &[&key_hash],
            )
            .await?;
        Ok(row.as_ref().map(api_key_from_row))
    }

    async fn append_consent(&self, record: ConsentRecord) -> StoreResult<()> {
        let client = self.pool.get().await?;
        insert_consents(&client, std::slice::from_ref(&record)).await
    }

    async fn consent_history(&self, user_id: &str) -> StoreResult<Vec<ConsentRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_id, analytics, preferences, improvement, source, recorded_at_us FROM consents
                 WHERE user_id = $1 ORDER BY id",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(consent_from_row).collect())
    }

    async fn commit_events(&self, batch: Arc<[NewEvent]>, options: CommitOptions) -> StoreResult<Vec<EventOutcome>> {
        let mut client = self.pool.get().await?;
        commit_events(&mut client, &batch, &options).await
    }

    async fn events(&self, query: EventQuery) -> StoreResult<Vec<StoredEvent>> {
        let client = self.pool.get().await?;
        query_events(&client, &query).await
    }

    async fn user_activity(&self, user_key: &str) -> StoreResult<UserActivity> {
        let client = self.pool.get().await?;
        let row = client
            .query_one("SELECT count(*), min(ts_us), max(ts_us) FROM events WHERE user_key = $1", &[&user_key])
            .await?;
        Ok(UserActivity { n_events: row.get(0), first_event_us: row.get(1), last_event_us: row.get(2) })
    }

    async fn sessions(&self, user_key: &str) -> StoreResult<Vec<SessionRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT session_id, min(ts_us) AS started, max(ts_us), count(*) FROM events WHERE user_key = $1
                 GROUP BY session_id ORDER BY started, session_id",
                &[&user_key],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SessionRecord {
                session_id: row.get(0),
                started_us: row.get(1),
                last_us: row.get(2),
                n_events: row.get(3),
            })
            .collect())
    }

    async fn events_in_arrival_order(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e JOIN users u ON u.user_key = e.user_key WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
        );
        let rows = client.query(&client.prepare_cached(&sql).await?, &[&after_seq, &i64::from(limit)]).await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    async fn max_event_seq(&self) -> StoreResult<i64> {
        let client = self.pool.get().await?;
        Ok(client.query_one("SELECT COALESCE(max(seq), 0) FROM events", &[]).await?.get(0))
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
        let client = self.pool.get().await?;
        let row = client.query_one("SELECT count(*), count(password_hash) FROM users", &[]).await?;
        Ok(UserCounts { users: row.get(0), accounts: row.get(1) })
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
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO audit_log (at_us, action, actor, subject, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&entry.at_us, &entry.action, &entry.actor, &entry.subject, &entry.outcome, &entry.detail],
            )
            .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> StoreResult<Vec<AuditEntry>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT at_us, action, actor, subject, outcome, detail FROM audit_log ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(audit_from_row).collect())
    }
}
