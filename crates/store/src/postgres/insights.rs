//! Seed 003's insights and automation: users' activity per day, callers' requests per hour and
//! the automation runs.

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::error::StoreResult;
use crate::insights::*;
use crate::{AutomationStore, InsightsStore};

const USER_DAY_COLUMNS: &str = "d.user_key, d.day, d.events, d.sessions, d.session_seconds, d.amount, u.first_seen_us";

fn user_day(row: &Row) -> UserDay {
    UserDay {
        user_key: row.get(0),
        day: row.get(1),
        events: row.get(2),
        sessions: row.get(3),
        session_seconds: row.get(4),
        amount: row.get(5),
        first_seen_us: row.get(6),
    }
}

const RUN_COLUMNS: &str =
    "run_id, job, slot_us, trigger, node, started_at_us, finished_at_us, status, counts, report, error";

fn automation_run(row: &Row) -> AutomationRun {
    AutomationRun {
        run_id: row.get(0),
        job: row.get(1),
        slot_us: row.get(2),
        trigger: row.get(3),
        node: row.get(4),
        started_at_us: row.get(5),
        finished_at_us: row.get(6),
        status: row.get(7),
        counts: row.get(8),
        report: row.get(9),
        error: row.get(10),
    }
}

/// Adds a processed batch's days (inside its transaction; users no longer stored are left out).
pub(super) async fn add_user_days(tx: &deadpool_postgres::Transaction<'_>, days: &[UserDay]) -> StoreResult<()> {
    if days.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = days.iter().map(|d| d.user_key.as_str()).collect();
    let numbers: Vec<i64> = days.iter().map(|d| d.day).collect();
    let events: Vec<i64> = days.iter().map(|d| d.events).collect();
    let sessions: Vec<i64> = days.iter().map(|d| d.sessions).collect();
    let seconds: Vec<f64> = days.iter().map(|d| d.session_seconds).collect();
    let amounts: Vec<f64> = days.iter().map(|d| d.amount).collect();
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO user_days (user_key, day, events, sessions, session_seconds, amount)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::float8[], $6::float8[])
                 AS k(user_key, day, events, sessions, session_seconds, amount)
             WHERE EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.user_key)
             ON CONFLICT (user_key, day) DO UPDATE SET events = user_days.events + EXCLUDED.events,
                sessions = user_days.sessions + EXCLUDED.sessions,
                session_seconds = user_days.session_seconds + EXCLUDED.session_seconds,
                amount = user_days.amount + EXCLUDED.amount",
        )
        .await?,
        &[&keys, &numbers, &events, &sessions, &seconds, &amounts],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl InsightsStore for PostgresStore {
    async fn user_days(&self, user_key: &str, from_day: i64) -> StoreResult<Vec<UserDay>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_DAY_COLUMNS} FROM user_days d JOIN users u ON u.user_key = d.user_key
                     WHERE d.user_key = $1 AND d.day >= $2 ORDER BY d.day"
                ),
                &[&user_key, &from_day],
            )
            .await?;
        Ok(rows.iter().map(user_day).collect())
    }

    async fn user_days_after(
        &self,
        after: Option<(String, i64)>,
        from_day: i64,
        limit: u32,
    ) -> StoreResult<Vec<UserDay>> {
        let (after_key, after_day) = after.unwrap_or((String::new(), i64::MIN));
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {USER_DAY_COLUMNS} FROM user_days d JOIN users u ON u.user_key = d.user_key
                     WHERE (d.user_key, d.day) > ($1, $2) AND d.day >= $3
                     ORDER BY d.user_key, d.day LIMIT $4"
                ),
                &[&after_key, &after_day, &from_day, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(user_day).collect())
    }

    async fn add_request_usage(&self, usage: Vec<RequestUsage>) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = usage.iter().map(|u| u.caller_key.as_str()).collect();
        let hours: Vec<i64> = usage.iter().map(|u| u.hour_us).collect();
        let requests: Vec<i64> = usage.iter().map(|u| u.requests).collect();
        let limited: Vec<i64> = usage.iter().map(|u| u.limited).collect();
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO request_usage (caller_key, hour_us, requests, limited)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[]) AS k(caller_key, hour_us, requests, limited)
                 WHERE k.caller_key LIKE 'key:%' OR EXISTS (SELECT 1 FROM users u WHERE u.user_key = k.caller_key)
                 ON CONFLICT (caller_key, hour_us) DO UPDATE SET requests = request_usage.requests + EXCLUDED.requests,
                    limited = request_usage.limited + EXCLUDED.limited",
                &[&keys, &hours, &requests, &limited],
            )
            .await?;
        Ok(())
    }

    async fn request_usage(&self, caller_key: &str, from_us: i64) -> StoreResult<Vec<RequestUsage>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT caller_key, hour_us, requests, limited FROM request_usage
                 WHERE caller_key = $1 AND hour_us >= $2 ORDER BY hour_us",
                &[&caller_key, &from_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RequestUsage {
                caller_key: row.get(0),
                hour_us: row.get(1),
                requests: row.get(2),
                limited: row.get(3),
            })
            .collect())
    }

    async fn usage_by_caller(&self, from_us: i64) -> StoreResult<Vec<CallerUsage>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT caller_key, sum(requests)::int8, sum(limited)::int8, max(requests), count(*) FROM request_usage
                 WHERE hour_us >= $1 GROUP BY caller_key ORDER BY caller_key",
                &[&from_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| CallerUsage {
                caller_key: row.get(0),
                requests: row.get(1),
                limited: row.get(2),
                peak_hour: row.get(3),
                active_hours: row.get(4),
            })
            .collect())
    }

    async fn expire_request_usage(&self, before_us: i64) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        Ok(client.execute("DELETE FROM request_usage WHERE hour_us < $1", &[&before_us]).await?)
    }

    async fn retention(&self, query: RetentionQuery) -> StoreResult<RetentionCounts> {
        let cohort = query.period.index_sql("u.first_seen_us / 86400000000", true);
        let period = query.period.index_sql("d.day", true);
        let client = self.pool.get().await?;
        let window = [&query.first_seen_from_us as &(dyn tokio_postgres::types::ToSql + Sync), &query.first_seen_to_us];
        let sizes = client
            .query(
                &format!(
                    "SELECT {cohort}, count(*) FROM users u WHERE u.first_seen_us >= $1 AND u.first_seen_us < $2 GROUP BY 1"
                ),
                &window,
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let cells = client
            .query(
                &format!(
                    "SELECT {cohort}, {period}, count(DISTINCT d.user_key) FROM user_days d
                     JOIN users u ON u.user_key = d.user_key
                     WHERE u.first_seen_us >= $1 AND u.first_seen_us < $2 GROUP BY 1, 2"
                ),
                &window,
            )
            .await?
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        Ok(RetentionCounts { sizes, cells })
    }

    async fn refusing_improvement(&self) -> StoreResult<Vec<String>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT u.user_key FROM consents c JOIN users u ON u.user_id = c.user_id
                 WHERE c.id IN (SELECT max(id) FROM consents GROUP BY user_id) AND NOT c.improvement
                 ORDER BY u.user_key",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

#[async_trait]
impl AutomationStore for PostgresStore {
    async fn claim_run(&self, run: AutomationRun, stale_before_us: i64) -> StoreResult<bool> {
        let client = self.pool.get().await?;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO automation_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT DO NOTHING"
                ),
                &[
                    &run.run_id,
                    &run.job,
                    &run.slot_us,
                    &run.trigger,
                    &run.node,
                    &run.started_at_us,
                    &run.finished_at_us,
                    &run.status,
                    &run.counts,
                    &run.report,
                    &run.error,
                ],
            )
            .await?;
        if inserted > 0 {
            return Ok(true);
        }
        // One statement: of two nodes taking over the same stale run, one wins.
        let taken = client
            .execute(
                "UPDATE automation_runs SET run_id = $1, node = $2, started_at_us = $3, trigger = $4
                 WHERE job = $5 AND slot_us = $6 AND status = 'running' AND started_at_us < $7",
                &[&run.run_id, &run.node, &run.started_at_us, &run.trigger, &run.job, &run.slot_us, &stale_before_us],
            )
            .await?;
        Ok(taken > 0)
    }

    async fn finish_run(&self, run: AutomationRun) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE automation_runs SET finished_at_us = $2, status = $3, counts = $4, report = $5, error = $6
                 WHERE run_id = $1",
                &[&run.run_id, &run.finished_at_us, &run.status, &run.counts, &run.report, &run.error],
            )
            .await?;
        Ok(())
    }

    async fn fail_stale_runs(&self, before_us: i64, error: &str, now_us: i64) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        Ok(client
            .execute(
                "UPDATE automation_runs SET status = 'failed', error = $2, finished_at_us = $3
                 WHERE status = 'running' AND started_at_us < $1",
                &[&before_us, &error, &now_us],
            )
            .await?)
    }

    async fn automation_runs(&self, job: Option<String>, limit: u32) -> StoreResult<Vec<AutomationRun>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {RUN_COLUMNS} FROM automation_runs WHERE $1::text IS NULL OR job = $1
                     ORDER BY started_at_us DESC, run_id DESC LIMIT $2"
                ),
                &[&job, &i64::from(limit)],
            )
            .await?;
        Ok(rows.iter().map(automation_run).collect())
    }

    async fn automation_run(&self, run_id: &str) -> StoreResult<Option<AutomationRun>> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(&format!("SELECT {RUN_COLUMNS} FROM automation_runs WHERE run_id = $1"), &[&run_id])
            .await?;
        Ok(row.as_ref().map(automation_run))
    }
}
