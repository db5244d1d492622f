//! Seed 003's insights and automation: users' activity per day (derived file), callers'
//! requests per hour and the automation runs (primary file).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::SqliteStore;
use crate::error::StoreResult;
use crate::insights::*;
use crate::{AutomationStore, InsightsStore};

const USER_DAY_COLUMNS: &str = "d.user_key, d.day, d.events, d.sessions, d.session_seconds, d.amount, u.first_seen_us";

fn user_day(row: &Row<'_>) -> rusqlite::Result<UserDay> {
    Ok(UserDay {
        user_key: row.get(0)?,
        day: row.get(1)?,
        events: row.get(2)?,
        sessions: row.get(3)?,
        session_seconds: row.get(4)?,
        amount: row.get(5)?,
        first_seen_us: row.get(6)?,
    })
}

const RUN_COLUMNS: &str =
    "run_id, job, slot_us, trigger, node, started_at_us, finished_at_us, status, counts, report, error";

fn automation_run(row: &Row<'_>) -> rusqlite::Result<AutomationRun> {
    Ok(AutomationRun {
        run_id: row.get(0)?,
        job: row.get(1)?,
        slot_us: row.get(2)?,
        trigger: row.get(3)?,
        node: row.get(4)?,
        started_at_us: row.get(5)?,
        finished_at_us: row.get(6)?,
        status: row.get(7)?,
        counts: row.get(8)?,
        report: row.get(9)?,
        error: row.get(10)?,
    })
}

/// Adds a processed batch's days (called inside its transaction, for users the caller found
/// still stored).
pub(super) fn add_user_days(tx: &rusqlite::Transaction<'_>, days: &[&UserDay]) -> StoreResult<()> {
    let mut add = tx.prepare_cached(
        "INSERT INTO user_days (user_key, day, events, sessions, session_seconds, amount) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (user_key, day) DO UPDATE SET events = user_days.events + excluded.events,
            sessions = user_days.sessions + excluded.sessions,
            session_seconds = user_days.session_seconds + excluded.session_seconds,
            amount = user_days.amount + excluded.amount",
    )?;
    for day in days {
        add.execute(params![day.user_key, day.day, day.events, day.sessions, day.session_seconds, day.amount])?;
    }
    Ok(())
}

#[async_trait]
impl InsightsStore for SqliteStore {
    async fn user_days(&self, user_key: &str, from_day: i64) -> StoreResult<Vec<UserDay>> {
        let user_key = user_key.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_DAY_COLUMNS} FROM derived.user_days d JOIN users u ON u.user_key = d.user_key
                 WHERE d.user_key = ?1 AND d.day >= ?2 ORDER BY d.day"
            ))?;
            Ok(stmt.query_map(params![user_key, from_day], user_day)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn user_days_after(
        &self,
        after: Option<(String, i64)>,
        from_day: i64,
        limit: u32,
    ) -> StoreResult<Vec<UserDay>> {
        let (after_key, after_day) = after.unwrap_or((String::new(), i64::MIN));
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {USER_DAY_COLUMNS} FROM derived.user_days d JOIN users u ON u.user_key = d.user_key
                 WHERE (d.user_key > ?1 OR (d.user_key = ?1 AND d.day > ?2)) AND d.day >= ?3
                 ORDER BY d.user_key, d.day LIMIT ?4"
            ))?;
            Ok(stmt
                .query_map(params![after_key, after_day, from_day, limit], user_day)?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn add_request_usage(&self, usage: Vec<RequestUsage>) -> StoreResult<()> {
        if usage.is_empty() {
            return Ok(());
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut add = tx.prepare_cached(
                    "INSERT INTO request_usage (caller_key, hour_us, requests, limited) SELECT ?1, ?2, ?3, ?4
                     WHERE ?1 LIKE 'key:%' OR EXISTS (SELECT 1 FROM users WHERE user_key = ?1)
                     ON CONFLICT (caller_key, hour_us) DO UPDATE SET requests = request_usage.requests + excluded.requests,
                        limited = request_usage.limited + excluded.limited",
                )?;
                for entry in &usage {
                    add.execute(params![entry.caller_key, entry.hour_us, entry.requests, entry.limited])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn request_usage(&self, caller_key: &str, from_us: i64) -> StoreResult<Vec<RequestUsage>> {
        let caller_key = caller_key.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT caller_key, hour_us, requests, limited FROM request_usage
                 WHERE caller_key = ?1 AND hour_us >= ?2 ORDER BY hour_us",
            )?;
            Ok(stmt
                .query_map(params![caller_key, from_us], |row| {
                    Ok(RequestUsage {
                        caller_key: row.get(0)?,
                        hour_us: row.get(1)?,
                        requests: row.get(2)?,
                        limited: row.get(3)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn usage_by_caller(&self, from_us: i64) -> StoreResult<Vec<CallerUsage>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT caller_key, sum(requests), sum(limited), max(requests), count(*) FROM request_usage
                 WHERE hour_us >= ?1 GROUP BY caller_key ORDER BY caller_key",
            )?;
            Ok(stmt
                .query_map([from_us], |row| {
                    Ok(CallerUsage {
                        caller_key: row.get(0)?,
                        requests: row.get(1)?,
                        limited: row.get(2)?,
                        peak_hour: row.get(3)?,
                        active_hours: row.get(4)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn expire_request_usage(&self, before_us: i64) -> StoreResult<u64> {
        self.write(move |conn| Ok(conn.execute("DELETE FROM request_usage WHERE hour_us < ?1", [before_us])? as u64))
            .await
    }

    async fn retention(&self, query: RetentionQuery) -> StoreResult<RetentionCounts> {
        let cohort = query.period.index_sql("u.first_seen_us / 86400000000", false);
        let period = query.period.index_sql("d.day", false);
        self.read(move |conn| {
            let window = params![query.first_seen_from_us, query.first_seen_to_us];
            let sizes = conn
                .prepare(&format!(
                    "SELECT {cohort}, count(*) FROM users u WHERE u.first_seen_us >= ?1 AND u.first_seen_us < ?2 GROUP BY 1"
                ))?
                .query_map(window, |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let cells = conn
                .prepare(&format!(
                    "SELECT {cohort}, {period}, count(DISTINCT d.user_key) FROM derived.user_days d
                     JOIN users u ON u.user_key = d.user_key
                     WHERE u.first_seen_us >= ?1 AND u.first_seen_us < ?2 GROUP BY 1, 2"
                ))?
                .query_map(window, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(RetentionCounts { sizes, cells })
        })
        .await
    }

    async fn refusing_improvement(&self) -> StoreResult<Vec<String>> {
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT u.user_key FROM consents c JOIN users u ON u.user_id = c.user_id
                     WHERE c.id IN (SELECT max(id) FROM consents GROUP BY user_id) AND c.improvement = 0
                     ORDER BY u.user_key",
                )?
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<String>, _>>()?)
        })
        .await
    }
}

#[async_trait]
impl AutomationStore for SqliteStore {
    async fn claim_run(&self, run: AutomationRun, stale_before_us: i64) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                &format!(
                    "INSERT INTO automation_runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT DO NOTHING"
                ),
                params![
                    run.run_id,
                    run.job,
                    run.slot_us,
                    run.trigger,
                    run.node,
                    run.started_at_us,
                    run.finished_at_us,
                    run.status,
                    run.counts,
                    run.report,
                    run.error
                ],
            )?;
            let claimed = inserted > 0
                || tx.execute(
                    "UPDATE automation_runs SET run_id = ?1, node = ?2, started_at_us = ?3, trigger = ?4
                     WHERE job = ?5 AND slot_us = ?6 AND status = 'running' AND started_at_us < ?7",
                    params![
                        run.run_id,
                        run.node,
                        run.started_at_us,
                        run.trigger,
                        run.job,
                        run.slot_us,
                        stale_before_us
                    ],
                )? > 0;
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn finish_run(&self, run: AutomationRun) -> StoreResult<()> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE automation_runs SET finished_at_us = ?2, status = ?3, counts = ?4, report = ?5, error = ?6
                 WHERE run_id = ?1",
                params![run.run_id, run.finished_at_us, run.status, run.counts, run.report, run.error],
            )?;
            Ok(())
        })
        .await
    }

    async fn fail_stale_runs(&self, before_us: i64, error: &str, now_us: i64) -> StoreResult<u64> {
        let error = error.to_owned();
        self.write(move |conn| {
            Ok(conn.execute(
                "UPDATE automation_runs SET status = 'failed', error = ?2, finished_at_us = ?3
                 WHERE status = 'running' AND started_at_us < ?1",
                params![before_us, error, now_us],
            )? as u64)
        })
        .await
    }

    async fn automation_runs(&self, job: Option<String>, limit: u32) -> StoreResult<Vec<AutomationRun>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {RUN_COLUMNS} FROM automation_runs WHERE ?1 IS NULL OR job = ?1
                 ORDER BY started_at_us DESC, run_id DESC LIMIT ?2"
            ))?;
            Ok(stmt.query_map(params![job, limit], automation_run)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn automation_run(&self, run_id: &str) -> StoreResult<Option<AutomationRun>> {
        let run_id = run_id.to_owned();
        self.read(move |conn| {
            Ok(conn
                .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM automation_runs WHERE run_id = ?1"))?
                .query_row([run_id], automation_run)
                .optional()?)
        })
        .await
    }
}
