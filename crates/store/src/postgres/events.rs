//! Events and consents: committing a batch (one ingestion transaction at a time across nodes,
//! the plan's judgement, then one `INSERT … SELECT FROM unnest(…)` per table), the queries over
//! the event log, and retention (expired events and the aggregates folded from them).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use footprint_analytics::Consent;
use footprint_analytics::session::SessionState;
use tokio_postgres::types::ToSql;

use super::rows::{LINK_COLUMNS, consent_from_row, event_from_row, link_from_row};
use super::{INGEST_LOCK, PostgresStore};
use crate::EventStore;
use crate::error::StoreResult;
use crate::model::*;
use crate::plan::{RecordedConsent, UserState, needing_predecessor, plan_batch};

const EVENT_COLUMNS: &str = "e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type, \
     e.properties::text, e.context::text, e.ts_us, e.received_us";

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
    let known = tx
        .query(
            &tx.prepare_cached("SELECT user_id FROM users WHERE user_id = ANY($1) AND first_seen_us IS NOT NULL")
                .await?,
            &[&user_ids],
        )
        .await?;
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
    let mut states = load_user_states(&tx, batch).await?;
    let predecessors = load_predecessors(&tx, batch, &needing_predecessor(batch, &states)).await?;
    let mut plan = plan_batch(batch, &mut states, &predecessors, options);

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
impl EventStore for PostgresStore {
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

    async fn consents_page(&self, after_id: i64, limit: u32) -> StoreResult<Vec<(i64, ConsentRecord)>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT user_id, analytics, preferences, improvement, source, recorded_at_us, id FROM consents
                 WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after_id, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get::<_, i64>(6), consent_from_row(row))).collect())
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

    async fn user_events_after_seq(
        &self,
        user_key: &str,
        after_seq: i64,
        limit: u32,
        _scan_arrivals: bool,
    ) -> StoreResult<Vec<StoredEvent>> {
        // PostgreSQL's planner weighs the user's index against the seq range from its statistics.
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM events e JOIN users u ON u.user_key = e.user_key
             WHERE e.user_key = $1 AND e.seq > $2 ORDER BY e.seq DESC LIMIT $3) latest ORDER BY seq"
        );
        let rows =
            client.query(&client.prepare_cached(&sql).await?, &[&user_key, &after_seq, &i64::from(limit)]).await?;
        Ok(rows.iter().map(event_from_row).collect())
    }

    async fn max_event_seq(&self) -> StoreResult<i64> {
        let client = self.pool.get().await?;
        Ok(client.query_one("SELECT COALESCE(max(seq), 0) FROM events", &[]).await?.get(0))
    }

    async fn link_identity(&self, link: IdentityLink) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO identity_links (anonymous_key, anonymous_id, user_id, linked_at_us) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (anonymous_key) DO UPDATE SET user_id = excluded.user_id, linked_at_us = excluded.linked_at_us",
                &[&link.anonymous_key, &link.anonymous_id, &link.user_id, &link.linked_at_us],
            )
            .await?;
        Ok(())
    }

    async fn links_to_user(&self, user_id: &str) -> StoreResult<Vec<IdentityLink>> {
        let client = self.pool.get().await?;
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM identity_links WHERE user_id = $1 ORDER BY linked_at_us, anonymous_key"
        );
        let rows = client.query(&sql, &[&user_id]).await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn identity_links(&self, anonymous_keys: &[String]) -> StoreResult<Vec<IdentityLink>> {
        if anonymous_keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let sql = format!("SELECT {LINK_COLUMNS} FROM identity_links WHERE anonymous_key = ANY($1)");
        let rows = client.query(&sql, &[&anonymous_keys]).await?;
        Ok(rows.iter().map(link_from_row).collect())
    }

    async fn expire_events(&self, expiry: EventExpiry) -> StoreResult<u64> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let (names, negation) = match &expiry.types {
            TypeSelector::Only(names) => (names.clone(), ""),
            TypeSelector::AllExcept(names) => (names.clone(), "NOT "),
        };
        let sql = format!("DELETE FROM events WHERE ts_us < $1 AND seq <= $2 AND {negation}(type = ANY($3::text[]))");
        let deleted = tx.execute(&sql, &[&expiry.before_us, &expiry.up_to_seq, &names]).await?;
        for aggregate in &expiry.aggregates {
            tx.execute(
                "INSERT INTO metric_aggregates (kind, day_us, stats, created_at_us) VALUES ($1, $2, $3, $4)",
                &[&aggregate.kind, &aggregate.day_us, &aggregate.stats, &aggregate.created_at_us],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn daily_type_counts(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyTypeCount>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT day_us, type, events FROM daily_event_counts
                 WHERE day_us >= $1 AND day_us < $2 AND events > 0 ORDER BY day_us, type",
                &[&from_us, &to_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| DailyTypeCount { day_us: row.get(0), event_type: row.get(1), events: row.get(2) })
            .collect())
    }

    async fn daily_active_users(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyUsers>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT day_us, users FROM daily_active_users WHERE day_us >= $1 AND day_us < $2 AND users > 0 ORDER BY day_us",
                &[&from_us, &to_us],
            )
            .await?;
        Ok(rows.iter().map(|row| DailyUsers { day_us: row.get(0), users: row.get(1) }).collect())
    }

    async fn active_users(&self, windows: &[DayWindow]) -> StoreResult<Vec<i64>> {
        let Some(sql) = crate::model::active_users_sql(windows) else {
            return Ok(vec![0; windows.len()]);
        };
        let client = self.pool.get().await?;
        // The per-user 0/1 are int4, so each sum is an int8.
        let row = client.query_one(&sql, &[]).await?;
        Ok((0..windows.len()).map(|i| row.get::<_, i64>(i)).collect())
    }

    async fn consent_totals(&self) -> StoreResult<ConsentTotals> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE analytics), count(*) FILTER (WHERE preferences),
                        count(*) FILTER (WHERE improvement)
                 FROM (SELECT DISTINCT ON (user_id) analytics, preferences, improvement FROM consents
                       ORDER BY user_id, id DESC) AS latest",
                &[],
            )
            .await?;
        Ok(ConsentTotals { users: row.get(0), analytics: row.get(1), preferences: row.get(2), improvement: row.get(3) })
    }

    async fn metric_aggregates(&self, kind: &str, from_day_us: i64) -> StoreResult<Vec<MetricAggregate>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT kind, day_us, stats, created_at_us FROM metric_aggregates WHERE kind = $1 AND day_us >= $2
                 ORDER BY day_us, id",
                &[&kind, &from_day_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| MetricAggregate {
                kind: row.get(0),
                day_us: row.get(1),
                stats: row.get(2),
                created_at_us: row.get(3),
            })
            .collect())
    }
}
