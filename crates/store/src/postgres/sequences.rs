//! Incremental processing's state: the watermark, sequence counts and users' recent actions.

use async_trait::async_trait;

use super::PostgresStore;
use crate::SequenceStore;
use crate::error::StoreResult;
use crate::model::*;

async fn apply_sequence_batch(client: &mut deadpool_postgres::Client, batch: &SequenceBatch) -> StoreResult<bool> {
    let tx = client.transaction().await?;
    // After any erasure under way: its users are then gone, and their rows are left out below.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&super::PROCESSING_LOCK]).await?;
    // First, so that concurrent processors queue on this row and all but one find it moved.
    let claimed = tx
        .execute(
            "INSERT INTO processor_state (name, watermark, updated_at_us) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at_us = EXCLUDED.updated_at_us
             WHERE processor_state.watermark = $4",
            &[&batch.processor, &batch.new_watermark, &batch.now_us, &batch.expected_watermark],
        )
        .await?;
    if claimed == 0 {
        return Ok(false);
    }
    if !batch.deltas.is_empty() {
        let scopes: Vec<&str> = batch.deltas.iter().map(|d| d.scope.as_str()).collect();
        let contexts: Vec<&str> = batch.deltas.iter().map(|d| d.context.as_str()).collect();
        let nexts: Vec<&str> = batch.deltas.iter().map(|d| d.next.as_str()).collect();
        let counts: Vec<i64> = batch.deltas.iter().map(|d| d.count).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO sequence_counts (scope, context, next, count)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS k(scope, context, next, count)
                 WHERE k.scope = '' OR EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.scope)
                 ON CONFLICT (scope, context, next) DO UPDATE SET count = sequence_counts.count + EXCLUDED.count",
            )
            .await?,
            &[&scopes, &contexts, &nexts, &counts],
        )
        .await?;
    }
    if !batch.states.is_empty() {
        let keys: Vec<&str> = batch.states.iter().map(|s| s.user_key.as_str()).collect();
        let recent: Vec<&str> = batch.states.iter().map(|s| s.recent.as_str()).collect();
        let last: Vec<Option<i64>> = batch.states.iter().map(|s| s.last_us).collect();
        let previous: Vec<Option<i64>> = batch.states.iter().map(|s| s.previous_us).collect();
        let totals: Vec<i64> = batch.states.iter().map(|s| s.n_actions).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO sequence_state (user_key, recent, last_us, previous_us, n_actions)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
                     AS k(user_key, recent, last_us, previous_us, n_actions)
                 WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.user_key)
                 ON CONFLICT (user_key) DO UPDATE SET recent = EXCLUDED.recent, last_us = EXCLUDED.last_us,
                    previous_us = EXCLUDED.previous_us, n_actions = EXCLUDED.n_actions",
            )
            .await?,
            &[&keys, &recent, &last, &previous, &totals],
        )
        .await?;
    }
    if !batch.profiles.is_empty() {
        let keys: Vec<&str> = batch.profiles.iter().map(|p| p.user_key.as_str()).collect();
        let states: Vec<&str> = batch.profiles.iter().map(|p| p.state.as_str()).collect();
        let times: Vec<i64> = batch.profiles.iter().map(|p| p.updated_at_us).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO profile_state (user_key, state, updated_at_us)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[]) AS k(user_key, state, updated_at_us)
                 WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.user_key)
                 ON CONFLICT (user_key) DO UPDATE SET state = EXCLUDED.state, updated_at_us = EXCLUDED.updated_at_us",
            )
            .await?,
            &[&keys, &states, &times],
        )
        .await?;
    }
    if !batch.day_counts.is_empty() {
        let days: Vec<i64> = batch.day_counts.iter().map(|d| d.day_us).collect();
        let types: Vec<&str> = batch.day_counts.iter().map(|d| d.event_type.as_str()).collect();
        let counts: Vec<i64> = batch.day_counts.iter().map(|d| d.events).collect();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO daily_event_counts (day_us, type, events)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int8[])
                 ON CONFLICT (day_us, type) DO UPDATE SET events = daily_event_counts.events + EXCLUDED.events",
            )
            .await?,
            &[&days, &types, &counts],
        )
        .await?;
    }
    if !batch.active_days.is_empty() {
        let keys: Vec<&str> = batch.active_days.iter().map(|a| a.user_key.as_str()).collect();
        let periods: Vec<i64> = batch.active_days.iter().map(|a| a.period).collect();
        let days: Vec<i64> = batch.active_days.iter().map(|a| a.days).collect();
        // Every part of the statement sees the table as it was before: `added` is what is new.
        let added = tx
            .query(
                &tx.prepare_cached(
                    "WITH k AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]) AS k(user_key, period, days)
                                WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.user_key)),
                          added AS (SELECT k.period, k.days & ~coalesce(a.days, 0) AS days FROM k
                                    LEFT JOIN user_active_days a ON a.user_key = k.user_key AND a.period = k.period),
                          kept AS (INSERT INTO user_active_days (user_key, period, days) SELECT * FROM k
                                   ON CONFLICT (user_key, period) DO UPDATE SET days = user_active_days.days | EXCLUDED.days)
                     SELECT period, days FROM added WHERE days <> 0",
                )
                .await?,
                &[&keys, &periods, &days],
            )
            .await?;
        let mut per_day: std::collections::BTreeMap<i64, i64> = std::collections::BTreeMap::new();
        for row in &added {
            for day_us in ActiveDays::day_starts(row.get(0), row.get(1)) {
                *per_day.entry(day_us).or_default() += 1;
            }
        }
        let (days, users): (Vec<i64>, Vec<i64>) = per_day.into_iter().unzip();
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO daily_active_users (day_us, users) SELECT * FROM unnest($1::int8[], $2::int8[])
                 ON CONFLICT (day_us) DO UPDATE SET users = daily_active_users.users + EXCLUDED.users",
            )
            .await?,
            &[&days, &users],
        )
        .await?;
    }
    super::insights::add_user_days(&tx, &batch.user_days).await?;
    tx.commit().await?;
    Ok(true)
}

#[async_trait]
impl SequenceStore for PostgresStore {
    async fn processing_watermark(&self, processor: &str) -> StoreResult<i64> {
        let client = self.pool.get().await?;
        let row = client.query_opt("SELECT watermark FROM processor_state WHERE name = $1", &[&processor]).await?;
        Ok(row.map_or(0, |row| row.get(0)))
    }

    async fn sequence_states(&self, user_keys: &[String]) -> StoreResult<Vec<SequenceStateRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT user_key, recent, last_us, previous_us, n_actions FROM sequence_state WHERE user_key = ANY($1)",
                    )
                    .await?,
                &[&user_keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SequenceStateRecord {
                user_key: row.get(0),
                recent: row.get(1),
                last_us: row.get(2),
                previous_us: row.get(3),
                n_actions: row.get(4),
            })
            .collect())
    }

    async fn commit_sequence_batch(&self, batch: SequenceBatch) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        apply_sequence_batch(&mut client, &batch).await
    }

    async fn sequence_counts(&self, keys: &[(String, String)]) -> StoreResult<Vec<SequenceCount>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let client = self.pool.get().await?;
        let scopes: Vec<&str> = keys.iter().map(|(scope, _)| scope.as_str()).collect();
        let contexts: Vec<&str> = keys.iter().map(|(_, context)| context.as_str()).collect();
        let rows = client
            .query(
                &client
                    .prepare_cached(
                        "SELECT c.scope, c.context, c.next, c.count FROM unnest($1::text[], $2::text[]) AS k(scope, context)
                         JOIN sequence_counts c ON c.scope = k.scope AND c.context = k.context",
                    )
                    .await?,
                &[&scopes, &contexts],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SequenceCount { scope: row.get(0), context: row.get(1), next: row.get(2), count: row.get(3) })
            .collect())
    }

    async fn user_action_counts(&self) -> StoreResult<Vec<SequenceCount>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT c.scope, c.next, c.count FROM sequence_state s
                 JOIN sequence_counts c ON c.scope = s.user_key AND c.context = ''
                 ORDER BY c.scope, c.next",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| SequenceCount { scope: row.get(0), context: String::new(), next: row.get(1), count: row.get(2) })
            .collect())
    }

    async fn user_totals(&self) -> StoreResult<Vec<UserTotal>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT u.user_id, s.user_key, u.username, s.n_actions FROM sequence_state s JOIN users u ON u.user_key = s.user_key
                 ORDER BY s.n_actions DESC, u.user_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| UserTotal {
                user_id: row.get(0),
                user_key: row.get(1),
                username: row.get(2),
                n_actions: row.get(3),
            })
            .collect())
    }
}
