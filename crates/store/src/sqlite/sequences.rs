//! Incremental processing's state in the derived file: the watermark, sequence counts and users' recent actions.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::{DERIVED_WRITE, SqliteStore};
use crate::error::StoreResult;
use crate::model::*;
use crate::{SequenceStore, UserDay};

/// Applies a processing batch if the watermark is still the one it was read at. Each of the
/// batch's users is looked up once (a user erased or anonymised since the batch was read is
/// left out), and the rows are written in key order, so that consecutive writes touch
/// neighbouring B-tree pages.
fn apply_sequence_batch(conn: &mut Connection, batch: &SequenceBatch) -> StoreResult<bool> {
    let tx = conn.transaction_with_behavior(DERIVED_WRITE)?;
    let claimed = tx.execute(
        "INSERT INTO processor_state (name, watermark, updated_at_us) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO UPDATE SET watermark = excluded.watermark, updated_at_us = excluded.updated_at_us
         WHERE processor_state.watermark = ?4",
        params![batch.processor, batch.new_watermark, batch.now_us, batch.expected_watermark],
    )?;
    if claimed == 0 {
        return Ok(false);
    }
    let present = present_users(&tx, batch)?;
    let here = |user_key: &str| present.contains(user_key);
    {
        let mut deltas: Vec<&SequenceCount> =
            batch.deltas.iter().filter(|delta| delta.scope.is_empty() || here(&delta.scope)).collect();
        deltas.sort_unstable_by(|a, b| (&a.scope, &a.context, &a.next).cmp(&(&b.scope, &b.context, &b.next)));
        let mut add = tx.prepare_cached(
            "INSERT INTO sequence_counts (scope, context, next, count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (scope, context, next) DO UPDATE SET count = sequence_counts.count + excluded.count",
        )?;
        for delta in deltas {
            add.execute(params![delta.scope, delta.context, delta.next, delta.count])?;
        }
        let mut states: Vec<&SequenceStateRecord> = batch.states.iter().filter(|r| here(&r.user_key)).collect();
        states.sort_unstable_by(|a, b| a.user_key.cmp(&b.user_key));
        let mut state = tx.prepare_cached(
            "INSERT INTO sequence_state (user_key, recent, last_us, previous_us, n_actions) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (user_key) DO UPDATE SET recent = excluded.recent, last_us = excluded.last_us,
                previous_us = excluded.previous_us, n_actions = excluded.n_actions",
        )?;
        for record in states {
            state.execute(params![
                record.user_key,
                record.recent,
                record.last_us,
                record.previous_us,
                record.n_actions
            ])?;
        }
        let mut profiles: Vec<&ProfileStateRecord> = batch.profiles.iter().filter(|r| here(&r.user_key)).collect();
        profiles.sort_unstable_by(|a, b| a.user_key.cmp(&b.user_key));
        let mut profile = tx.prepare_cached(
            "INSERT INTO profile_state (user_key, state, updated_at_us) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_key) DO UPDATE SET state = excluded.state, updated_at_us = excluded.updated_at_us",
        )?;
        for record in profiles {
            profile.execute(params![record.user_key, record.state, record.updated_at_us])?;
        }
        let mut count = tx.prepare_cached(
            "INSERT INTO daily_event_counts (day_us, type, events) VALUES (?1, ?2, ?3)
             ON CONFLICT (day_us, type) DO UPDATE SET events = daily_event_counts.events + excluded.events",
        )?;
        for day in &batch.day_counts {
            count.execute(params![day.day_us, day.event_type, day.events])?;
        }
        let mut kept = tx.prepare_cached("SELECT days FROM user_active_days WHERE user_key = ?1 AND period = ?2")?;
        let mut first =
            tx.prepare_cached("INSERT INTO user_active_days (user_key, period, days) VALUES (?1, ?2, ?3)")?;
        let mut more =
            tx.prepare_cached("UPDATE user_active_days SET days = ?3 WHERE user_key = ?1 AND period = ?2")?;
        let mut active = tx.prepare_cached(
            "INSERT INTO daily_active_users (day_us, users) VALUES (?1, 1)
             ON CONFLICT (day_us) DO UPDATE SET users = daily_active_users.users + 1",
        )?;
        let mut entries: Vec<&ActiveDays> = batch.active_days.iter().filter(|e| here(&e.user_key)).collect();
        entries.sort_unstable_by(|a, b| (&a.user_key, a.period).cmp(&(&b.user_key, b.period)));
        for entry in entries {
            let before: Option<i64> =
                kept.query_row(params![entry.user_key, entry.period], |row| row.get(0)).optional()?;
            let added = match before {
                Some(days) if entry.days & !days == 0 => continue,
                Some(days) => {
                    more.execute(params![entry.user_key, entry.period, days | entry.days])?;
                    entry.days & !days
                }
                None => {
                    first.execute(params![entry.user_key, entry.period, entry.days])?;
                    entry.days
                }
            };
            for day_us in ActiveDays::day_starts(entry.period, added) {
                active.execute([day_us])?;
            }
        }
    }
    let mut days: Vec<&UserDay> = batch.user_days.iter().filter(|day| here(&day.user_key)).collect();
    days.sort_unstable_by(|a, b| (&a.user_key, a.day).cmp(&(&b.user_key, b.day)));
    super::insights::add_user_days(&tx, &days)?;
    tx.commit()?;
    Ok(true)
}

/// The batch's users that still exist in the primary file, each looked up once.
fn present_users<'b>(tx: &rusqlite::Transaction<'_>, batch: &'b SequenceBatch) -> StoreResult<HashSet<&'b str>> {
    let mut named: Vec<&str> = batch
        .deltas
        .iter()
        .map(|delta| delta.scope.as_str())
        .filter(|scope| !scope.is_empty())
        .chain(batch.states.iter().map(|record| record.user_key.as_str()))
        .chain(batch.profiles.iter().map(|record| record.user_key.as_str()))
        .chain(batch.active_days.iter().map(|entry| entry.user_key.as_str()))
        .chain(batch.user_days.iter().map(|day| day.user_key.as_str()))
        .collect();
    named.sort_unstable();
    named.dedup();
    let mut exists = tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM store.users WHERE user_key = ?1)")?;
    let mut present = HashSet::with_capacity(named.len());
    for user_key in named {
        if exists.query_row([user_key], |row| row.get::<_, bool>(0))? {
            present.insert(user_key);
        }
    }
    Ok(present)
}

fn current_watermark(conn: &Connection, processor: &str) -> StoreResult<i64> {
    Ok(conn
        .prepare_cached("SELECT watermark FROM derived.processor_state WHERE name = ?1")?
        .query_row([processor], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

#[async_trait]
impl SequenceStore for SqliteStore {
    async fn processing_watermark(&self, processor: &str) -> StoreResult<i64> {
        let processor = processor.to_owned();
        self.read(move |conn| current_watermark(conn, &processor)).await
    }

    async fn sequence_states(&self, user_keys: &[String]) -> StoreResult<Vec<SequenceStateRecord>> {
        let user_keys = user_keys.to_vec();
        self
            .read(move |conn| {
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
        self.write_derived(move |conn| apply_sequence_batch(conn, &batch)).await
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
}
