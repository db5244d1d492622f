//! Events and consents in the primary file: committing a batch (the plan's judgement, then the
//! writes), the queries over the event log, and retention (expired events and the aggregates
//! folded from them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use footprint_analytics::session::SessionState;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::log::{Latest, LogWriter, change_logged, over_both, read_log_first};
use super::people::{event_row, insert_consent, recorded_user, write_people};
use super::rows::{LINK_COLUMNS, consent_from_row, event_from_row, link_from_row};
use crate::EventStore;
use crate::error::StoreResult;
use crate::model::*;
use crate::plan::{UserState, needing_predecessor, plan_batch};

/// The user's stored event at or before `at` (None: the latest), in `events` (read first) or
/// in the log (whose rows leave it only under its writer, held here).
fn stored_at(primary: &Connection, log: &Connection, user_key: &str, at: Option<i64>) -> StoreResult<Option<Latest>> {
    let mut found: Option<Latest> = None;
    for (conn, table) in [(primary, "events"), (log, "event_log")] {
        let pick =
            |row: &rusqlite::Row<'_>| Ok(Latest { ts_us: row.get(0)?, seq: row.get(1)?, session_id: row.get(2)? });
        let row = match at {
            None => conn
                .prepare_cached(&format!(
                    "SELECT ts_us, seq, session_id FROM {table} WHERE user_key = ?1 ORDER BY ts_us DESC, seq DESC LIMIT 1"
                ))?
                .query_row([user_key], pick)
                .optional()?,
            Some(at) => conn
                .prepare_cached(&format!(
                    "SELECT ts_us, seq, session_id FROM {table} WHERE user_key = ?1 AND ts_us <= ?2
                     ORDER BY ts_us DESC, seq DESC LIMIT 1"
                ))?
                .query_row(params![user_key, at], pick)
                .optional()?,
        };
        found = found.max(row);
    }
    Ok(found)
}

fn session_state(latest: &Latest) -> SessionState {
    SessionState { session_id: latest.session_id.clone(), last_event_us: latest.ts_us }
}

fn load_user_states<'a>(writer: &mut LogWriter, batch: &'a [NewEvent]) -> StoreResult<HashMap<&'a str, UserState>> {
    let mut states = HashMap::new();
    for event in batch {
        if states.contains_key(event.user_id.as_str()) {
            continue;
        }
        let (known, consent) = recorded_user(&writer.primary, &event.user_id)?;
        let latest = match writer.latest(&event.user_key) {
            _ if !known => None,
            Some(latest) => Some(session_state(latest)),
            None => {
                let found = stored_at(&writer.primary, &writer.conn, &event.user_key, None)?;
                if let Some(found) = &found {
                    writer.remember(&event.user_key, found.clone());
                }
                found.as_ref().map(session_state)
            }
        };
        states.insert(event.user_id.as_str(), UserState { known, consent, latest });
    }
    Ok(states)
}

/// The stored event at or before each listed event's time, for late events.
fn load_predecessors(
    primary: &Connection,
    log: &Connection,
    batch: &[NewEvent],
    indexes: &[usize],
) -> StoreResult<HashMap<usize, SessionState>> {
    let mut predecessors = HashMap::new();
    for &index in indexes {
        let event = &batch[index];
        if let Some(found) = stored_at(primary, log, &event.user_key, Some(event.timestamp_us))? {
            predecessors.insert(index, session_state(&found));
        }
    }
    Ok(predecessors)
}

/// Commits a batch into the ingestion log (see `log`). New users and consent records go to the
/// primary file first, in their own transaction: should the log's commit then fail, the
/// events are not acknowledged, and sent again they find their users and consents in place.
fn commit_events(
    writer: &mut LogWriter,
    primary: &Mutex<Connection>,
    batch: &[NewEvent],
    options: &CommitOptions,
) -> StoreResult<Vec<EventOutcome>> {
    super::log::bound_waiting(primary, writer)?;
    let mut states = load_user_states(writer, batch)?;
    let predecessors = load_predecessors(&writer.primary, &writer.conn, batch, &needing_predecessor(batch, &states))?;
    let mut plan = plan_batch(batch, &mut states, &predecessors, options);

    if !plan.consents.is_empty() || !plan.new_users.is_empty() {
        let mut conn = primary.lock().unwrap_or_else(PoisonError::into_inner);
        let primary_tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        write_people(&primary_tx, &plan)?;
        primary_tx.commit()?;
    }
    let mut appended = Vec::new();
    let tx = writer.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut next_seq = LogWriter::next_seq_after(writer.next_seq, &writer.primary, &tx)?;
    {
        // Duplicates of moved events are found in `events`, of the others by the log's own
        // unique (user_key, message_id) index.
        let mut moved =
            writer.primary.prepare_cached("SELECT count(*) > 0 FROM events WHERE user_key = ?1 AND message_id = ?2")?;
        let mut insert_event = tx.prepare_cached(
            "INSERT INTO event_log (seq, event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (user_key, message_id) WHERE message_id IS NOT NULL DO NOTHING",
        )?;
        for (index, session_id) in &plan.inserts {
            let event = &batch[*index];
            let known_message = match &event.message_id {
                Some(message_id) => moved.query_row(params![event.user_key, message_id], |row| row.get(0))?,
                None => false,
            };
            let inserted = !known_message && insert_event.execute(event_row(&next_seq, event, session_id))? > 0;
            if inserted {
                appended.push((*index, next_seq, session_id));
                next_seq += 1;
            } else {
                plan.outcomes[*index] = EventOutcome::Duplicate;
            }
        }
    }
    tx.commit()?;
    writer.next_seq = next_seq;
    for (index, seq, session_id) in appended {
        let event = &batch[index];
        writer.remember(&event.user_key, Latest { ts_us: event.timestamp_us, seq, session_id: session_id.clone() });
    }
    Ok(plan.outcomes)
}

const EVENT_COLUMNS: &str = "e.seq, e.event_id, u.user_id, e.user_key, u.username, e.message_id, e.session_id, e.type, \
     e.properties, e.context, e.ts_us, e.received_us";

fn query_events(conn: &Connection, query: &EventQuery) -> StoreResult<Vec<StoredEvent>> {
    let mut filter = String::new();
    let mut values: Vec<Value> = Vec::new();
    if let Some(user_key) = &query.user_key {
        values.push(Value::Text(user_key.clone()));
        filter.push_str(&format!(" AND e.user_key = ?{}", values.len()));
    }
    if let Some(event_type) = &query.event_type {
        values.push(Value::Text(event_type.clone()));
        filter.push_str(&format!(" AND e.type = ?{}", values.len()));
    }
    if let Some(from) = query.from_us {
        values.push(Value::Integer(from));
        filter.push_str(&format!(" AND e.ts_us >= ?{}", values.len()));
    }
    if let Some(to) = query.to_us {
        values.push(Value::Integer(to));
        filter.push_str(&format!(" AND e.ts_us < ?{}", values.len()));
    }
    if let Some(after) = query.after {
        values.push(Value::Integer(after.timestamp_us));
        values.push(Value::Integer(after.seq));
        filter.push_str(&format!(" AND (e.ts_us, e.seq) > (?{}, ?{})", values.len() - 1, values.len()));
    }
    values.push(Value::Integer(i64::from(query.limit)));
    let limit = values.len();
    let sql = format!(
        "{} ORDER BY ts_us, seq LIMIT ?{limit}",
        over_both(|table, unmoved| format!(
            "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM {table} e JOIN main.users u ON u.user_key = e.user_key
             WHERE 1 = 1{filter}{unmoved} ORDER BY e.ts_us, e.seq LIMIT ?{limit})"
        ))
    );
    read_log_first(conn, |conn| {
        let mut stmt = conn.prepare_cached(&sql)?;
        let events =
            stmt.query_map(rusqlite::params_from_iter(values), event_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(events)
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

#[async_trait]
impl EventStore for SqliteStore {
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

    async fn consents_page(&self, after_id: i64, limit: u32) -> StoreResult<Vec<(i64, ConsentRecord)>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT user_id, analytics, preferences, improvement, source, recorded_at_us, id FROM consents
                 WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let page = stmt
                .query_map(params![after_id, limit], |row| Ok((row.get::<_, i64>(6)?, consent_from_row(row)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(page)
        })
        .await
    }

    async fn commit_events(&self, batch: Arc<[NewEvent]>, options: CommitOptions) -> StoreResult<Vec<EventOutcome>> {
        self.write_log(move |writer, primary| commit_events(writer, primary, &batch, &options)).await
    }

    async fn bulk_load(&self, options: CommitOptions) -> StoreResult<Option<Box<dyn crate::BulkLoad>>> {
        super::bulk::start(Arc::clone(&self.writer), Arc::clone(&self.log), options).await
    }

    async fn events(&self, query: EventQuery) -> StoreResult<Vec<StoredEvent>> {
        self.read(move |conn| query_events(conn, &query)).await
    }

    async fn user_activity(&self, user_key: &str) -> StoreResult<UserActivity> {
        let user_key = user_key.to_owned();
        let sql = format!(
            "SELECT count(*), min(ts_us), max(ts_us) FROM ({})",
            over_both(|table, unmoved| format!("SELECT ts_us FROM {table} e WHERE e.user_key = ?1{unmoved}"))
        );
        self.read(move |conn| {
            read_log_first(conn, |conn| {
                let activity = conn.prepare_cached(&sql)?.query_row([user_key], |row| {
                    Ok(UserActivity { n_events: row.get(0)?, first_event_us: row.get(1)?, last_event_us: row.get(2)? })
                })?;
                Ok(activity)
            })
        })
        .await
    }

    async fn sessions(&self, user_key: &str) -> StoreResult<Vec<SessionRecord>> {
        let user_key = user_key.to_owned();
        let sql = format!(
            "SELECT session_id, min(ts_us) AS started, max(ts_us), count(*) FROM ({})
             GROUP BY session_id ORDER BY started, session_id",
            over_both(|table, unmoved| format!(
                "SELECT session_id, ts_us FROM {table} e WHERE e.user_key = ?1{unmoved}"
            ))
        );
        self.read(move |conn| {
            read_log_first(conn, |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
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
        })
        .await
    }

    async fn events_in_arrival_order(&self, after_seq: i64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let sql = format!(
            "{} ORDER BY seq LIMIT ?2",
            over_both(|table, unmoved| format!(
                "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM {table} e JOIN main.users u ON u.user_key = e.user_key
                 WHERE e.seq > ?1{unmoved} ORDER BY e.seq LIMIT ?2)"
            ))
        );
        self.read(move |conn| {
            read_log_first(conn, |conn| {
                let events = conn
                    .prepare_cached(&sql)?
                    .query_map(params![after_seq, limit], event_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(events)
            })
        })
        .await
    }

    async fn user_events_after_seq(
        &self,
        user_key: &str,
        after_seq: i64,
        limit: u32,
        scan_arrivals: bool,
    ) -> StoreResult<Vec<StoredEvent>> {
        let user_key = user_key.to_owned();
        // NOT INDEXED leaves the rowid (seq) range as the only way into `events`: the events
        // after `after_seq`; otherwise the planner takes the user's index.
        let hint = if scan_arrivals { " NOT INDEXED" } else { "" };
        let sql = format!(
            "SELECT * FROM ({} ORDER BY seq DESC LIMIT ?3) ORDER BY seq",
            over_both(|table, unmoved| {
                let hint = if table == "main.events" { hint } else { "" };
                format!(
                    "SELECT * FROM (SELECT {EVENT_COLUMNS} FROM {table} e{hint} JOIN main.users u ON u.user_key = e.user_key
                     WHERE e.user_key = ?1 AND e.seq > ?2{unmoved} ORDER BY e.seq DESC LIMIT ?3)"
                )
            })
        );
        self.read(move |conn| {
            read_log_first(conn, |conn| {
                let events = conn
                    .prepare_cached(&sql)?
                    .query_map(params![user_key, after_seq, limit], event_from_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(events)
            })
        })
        .await
    }

    async fn max_event_seq(&self) -> StoreResult<i64> {
        self.read(|conn| {
            Ok(conn.query_row(
                "SELECT max(coalesce((SELECT max(seq) FROM main.events), 0), coalesce((SELECT max(seq) FROM log.event_log), 0))",
                [],
                |row| row.get(0),
            )?)
        })
        .await
    }

    async fn link_identity(&self, link: IdentityLink) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO identity_links (anonymous_key, anonymous_id, user_id, linked_at_us) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (anonymous_key) DO UPDATE SET user_id = excluded.user_id, linked_at_us = excluded.linked_at_us",
                rusqlite::params![link.anonymous_key, link.anonymous_id, link.user_id, link.linked_at_us],
            )?;
            Ok(())
        })
        .await
    }

    async fn links_to_user(&self, user_id: &str) -> StoreResult<Vec<IdentityLink>> {
        let user_id = user_id.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {LINK_COLUMNS} FROM identity_links WHERE user_id = ?1 ORDER BY linked_at_us, anonymous_key"
            );
            let links =
                conn.prepare_cached(&sql)?.query_map([&user_id], link_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(links)
        })
        .await
    }

    async fn identity_links(&self, anonymous_keys: &[String]) -> StoreResult<Vec<IdentityLink>> {
        let keys = anonymous_keys.to_vec();
        self.read(move |conn| {
            let sql = format!("SELECT {LINK_COLUMNS} FROM identity_links WHERE anonymous_key = ?1");
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut links = Vec::new();
            for key in keys {
                if let Some(link) = stmt.query_row([&key], link_from_row).optional()? {
                    links.push(link);
                }
            }
            Ok(links)
        })
        .await
    }

    async fn expire_events(&self, expiry: EventExpiry) -> StoreResult<u64> {
        let mut values = vec![Value::Integer(expiry.before_us), Value::Integer(expiry.up_to_seq)];
        let condition = format!("ts_us < ?1 AND seq <= ?2 AND {}", type_condition(&expiry.types, &mut values));
        // The log first, then `events` (see `log`).
        let (logged_condition, logged_values) = (condition.clone(), values.clone());
        let logged = self
            .write_log(move |log, _| {
                let values: Vec<&dyn rusqlite::ToSql> =
                    logged_values.iter().map(|value| value as &dyn rusqlite::ToSql).collect();
                change_logged(log, &logged_condition, "DELETE FROM event_log", &values)
            })
            .await?;
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let deleted = logged as usize
                + tx.execute(&format!("DELETE FROM events WHERE {condition}"), rusqlite::params_from_iter(values))?;
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

    async fn daily_type_counts(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyTypeCount>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT day_us, type, events FROM derived.daily_event_counts
                 WHERE day_us >= ?1 AND day_us < ?2 AND events > 0 ORDER BY day_us, type",
            )?;
            let counts = stmt
                .query_map(params![from_us, to_us], |row| {
                    Ok(DailyTypeCount { day_us: row.get(0)?, event_type: row.get(1)?, events: row.get(2)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(counts)
        })
        .await
    }

    async fn daily_active_users(&self, from_us: i64, to_us: i64) -> StoreResult<Vec<DailyUsers>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT day_us, users FROM derived.daily_active_users
                 WHERE day_us >= ?1 AND day_us < ?2 AND users > 0 ORDER BY day_us",
            )?;
            let days = stmt
                .query_map(params![from_us, to_us], |row| Ok(DailyUsers { day_us: row.get(0)?, users: row.get(1)? }))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(days)
        })
        .await
    }

    async fn active_users(&self, windows: &[DayWindow]) -> StoreResult<Vec<i64>> {
        let Some(sql) = crate::model::active_users_sql(windows) else {
            return Ok(vec![0; windows.len()]);
        };
        let n = windows.len();
        self.read(move |conn| {
            Ok(conn
                .prepare(&sql)?
                .query_row([], |row| (0..n).map(|i| row.get::<_, i64>(i)).collect::<Result<Vec<_>, _>>())?)
        })
        .await
    }

    async fn consent_totals(&self) -> StoreResult<ConsentTotals> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT count(*), coalesce(sum(analytics), 0), coalesce(sum(preferences), 0), coalesce(sum(improvement), 0)
                     FROM consents WHERE id IN (SELECT max(id) FROM consents GROUP BY user_id)",
                )?
                .query_row([], |row| {
                    Ok(ConsentTotals {
                        users: row.get(0)?,
                        analytics: row.get(1)?,
                        preferences: row.get(2)?,
                        improvement: row.get(3)?,
                    })
                })?)
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
}
