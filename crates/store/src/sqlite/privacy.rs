//! Erasure and anonymisation: every table that names a user or their pseudonym, in both files;
//! deleted rows are zeroed (`secure_delete`) and both WALs truncated afterwards.

use std::sync::PoisonError;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::log::{change_logged, take_log_snapshot};
use super::{DERIVED_WRITE, SqliteStore};
use crate::PrivacyStore;
use crate::error::StoreResult;
use crate::model::*;

/// Replaces each of `scrub` (longest first, so a username holding the id goes whole) by
/// `replacement` in the audit log's actor and subject, and wherever it is a whole JSON string in
/// the detail (`"u1"`, never the `u1` inside `"u10"`); returns the entries changed.
fn scrub_audit(tx: &Transaction<'_>, scrub: &[String], replacement: &str) -> StoreResult<u64> {
    let mut values: Vec<&String> = scrub.iter().filter(|value| !value.is_empty()).collect();
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let mut changed = std::collections::HashSet::new();
    for value in values {
        let quoted = serde_json::Value::String(value.clone()).to_string();
        let quoted_replacement = serde_json::Value::String(replacement.to_owned()).to_string();
        let mut stmt = tx.prepare_cached(
            "UPDATE audit_log SET
                 actor = CASE WHEN actor = ?1 THEN ?2 ELSE actor END,
                 subject = CASE WHEN subject = ?1 THEN ?2 ELSE subject END,
                 detail = replace(detail, ?3, ?4)
             WHERE actor = ?1 OR subject = ?1 OR instr(detail, ?3) > 0
             RETURNING id",
        )?;
        for id in stmt.query_map(params![value, replacement, quoted, quoted_replacement], |row| row.get::<_, i64>(0))? {
            changed.insert(id?);
        }
    }
    Ok(changed.len() as u64)
}

/// Takes an erased user's processed events out of the daily counts and their days out of the
/// daily active users, then forgets their active days; returns the rows deleted. Done only while
/// the user still has active days, so that erasing again does not take them out twice.
fn forget_daily_activity(tx: &Transaction<'_>, user_key: &str) -> StoreResult<usize> {
    let mut rows = tx.prepare_cached("SELECT period, days FROM user_active_days WHERE user_key = ?1")?;
    let kept = rows
        .query_map([user_key], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    if kept.is_empty() {
        return Ok(0);
    }
    // The user's processed events are in `events` or still in the ingestion log: the log's
    // snapshot is taken first (see `log`).
    take_log_snapshot(tx)?;
    tx.execute(
        "UPDATE daily_event_counts SET events = events - e.n
         FROM (SELECT (ts_us / 86400000000) * 86400000000 AS day_us, type, count(*) AS n
               FROM (SELECT ts_us, type, seq FROM store.events WHERE user_key = ?1
                     UNION ALL
                     SELECT ts_us, type, seq FROM log.event_log
                     WHERE user_key = ?1 AND seq > (SELECT seq FROM store.event_log_moved))
               WHERE seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')
               GROUP BY 1, 2) AS e
         WHERE daily_event_counts.day_us = e.day_us AND daily_event_counts.type = e.type",
        [user_key],
    )?;
    let mut fewer = tx.prepare_cached("UPDATE daily_active_users SET users = users - 1 WHERE day_us = ?1")?;
    for (period, days) in &kept {
        for day_us in ActiveDays::day_starts(*period, *days) {
            fewer.execute([day_us])?;
        }
    }
    Ok(tx.execute("DELETE FROM user_active_days WHERE user_key = ?1", [user_key])?)
}

/// Everything derived from the pseudonym's events: its daily activity (taken out of the daily
/// counts first), sequence state and counts, profile, segment assignments and days; returns the
/// rows deleted.
fn forget_derived(tx: &Transaction<'_>, user_key: &str) -> StoreResult<usize> {
    let mut removed = forget_daily_activity(tx, user_key)?;
    removed += tx.execute("DELETE FROM sequence_state WHERE user_key = ?1", [user_key])?;
    removed += tx.execute("DELETE FROM sequence_counts WHERE scope = ?1", [user_key])?;
    removed += tx.execute("DELETE FROM profile_state WHERE user_key = ?1", [user_key])?;
    removed += tx.execute("DELETE FROM cluster_assignments WHERE user_key = ?1", [user_key])?;
    removed += tx.execute("DELETE FROM user_days WHERE user_key = ?1", [user_key])?;
    Ok(removed)
}

/// Webhook deliveries about the user, with their attempts, and what webhooks were told of them.
fn forget_deliveries(tx: &Transaction<'_>, user_id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries WHERE user_id = ?1)",
        [user_id],
    )?;
    tx.execute("DELETE FROM webhook_deliveries WHERE user_id = ?1", [user_id])?;
    tx.execute("DELETE FROM webhook_marks WHERE user_id = ?1", [user_id])?;
    Ok(())
}

#[async_trait]
impl PrivacyStore for SqliteStore {
    async fn erase_user(&self, erasure: Erasure) -> StoreResult<IdentityChange> {
        // Derived rows first: a crash in between leaves the user whole, and erasing again
        // finishes the job.
        let user_key = erasure.user_key.clone();
        let derived_rows = self
            .write_derived(move |conn| {
                let tx = conn.transaction_with_behavior(DERIVED_WRITE)?;
                let removed = forget_derived(&tx, &user_key)?;
                tx.commit()?;
                Ok(removed as u64)
            })
            .await?;
        let (user_key, tombstone) = (erasure.user_key.clone(), erasure.tombstone.clone());
        let logged = self
            .write_log(move |log, _| change_logged(log, "user_key = ?1", "DELETE FROM event_log", &[&user_key]))
            .await?;
        let mut change = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let events = logged + tx.execute("DELETE FROM events WHERE user_key = ?1", [&erasure.user_key])? as u64;
                let consents = tx.execute("DELETE FROM consents WHERE user_id = ?1", [&erasure.user_id])? as u64;
                tx.execute("DELETE FROM profile_versions WHERE user_id = ?1", [&erasure.user_id])?;
                // Versions of other users' profiles that this user changed.
                tx.execute(
                    "UPDATE profile_versions SET changed_by = ?2 WHERE changed_by = ?1",
                    [&erasure.user_id, &erasure.replacement],
                )?;
                tx.execute("DELETE FROM attendance_registrations WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM tier_changes WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM mfa_codes WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM outbox WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM login_history WHERE user_id = ?1", [&erasure.user_id])?;
                tx.execute("DELETE FROM request_usage WHERE caller_key = ?1", [&erasure.user_key])?;
                tx.execute(
                    "UPDATE tier_changes SET changed_by = ?2 WHERE changed_by = ?1",
                    [&erasure.user_id, &erasure.replacement],
                )?;
                tx.execute(
                    "DELETE FROM identity_links WHERE user_id = ?1 OR anonymous_key = ?2",
                    [&erasure.user_id, &erasure.user_key],
                )?;
                forget_deliveries(&tx, &erasure.user_id)?;
                let account = tx.execute("DELETE FROM users WHERE user_id = ?1", [&erasure.user_id])? > 0;
                tx.execute("DELETE FROM login_attempts WHERE login_key = ?1", [&erasure.user_key])?;
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
        self.erased.write().unwrap_or_else(PoisonError::into_inner).insert(tombstone);
        self.truncate_wals().await?;
        Ok(change)
    }

    /// From the copy in memory: asked for every ingested request, it costs no read of the file.
    async fn erased_among(&self, tombstones: &[String]) -> StoreResult<Vec<String>> {
        let erased = self.erased.read().unwrap_or_else(PoisonError::into_inner);
        Ok(tombstones.iter().filter(|tombstone| erased.contains(*tombstone)).cloned().collect())
    }

    async fn clear_tombstone(&self, tombstone: &str) -> StoreResult<()> {
        let owned = tombstone.to_owned();
        self.write(move |conn| {
            conn.execute("DELETE FROM erasures WHERE tombstone = ?1", [owned])?;
            Ok(())
        })
        .await?;
        self.erased.write().unwrap_or_else(PoisonError::into_inner).remove(tombstone);
        Ok(())
    }

    async fn forget_moved_events(
        &self,
        user_key: &str,
        up_to_seq: i64,
        global: Vec<SequenceCount>,
    ) -> StoreResult<u64> {
        // Derived rows first (their daily counts read the events), as at erasure.
        let key = user_key.to_owned();
        self.write_derived(move |conn| {
            let tx = conn.transaction_with_behavior(DERIVED_WRITE)?;
            forget_derived(&tx, &key)?;
            {
                let mut take = tx.prepare_cached(
                    "UPDATE sequence_counts SET count = count + ?3 WHERE scope = '' AND context = ?1 AND next = ?2",
                )?;
                let mut empty = tx.prepare_cached(
                    "DELETE FROM sequence_counts WHERE scope = '' AND context = ?1 AND next = ?2 AND count <= 0",
                )?;
                for delta in &global {
                    take.execute(params![delta.context, delta.next, delta.count])?;
                    empty.execute(params![delta.context, delta.next])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await?;
        let key = user_key.to_owned();
        let logged = self
            .write_log(move |log, _| {
                change_logged(log, "user_key = ?1 AND seq <= ?2", "DELETE FROM event_log", &[&key, &up_to_seq])
            })
            .await?;
        let key = user_key.to_owned();
        self.write(move |conn| {
            let moved =
                conn.execute("DELETE FROM events WHERE user_key = ?1 AND seq <= ?2", params![key, up_to_seq])?;
            Ok(logged + moved as u64)
        })
        .await
    }

    async fn anonymize_user(&self, change: Anonymization) -> StoreResult<IdentityChange> {
        let (old_key, new_key) = (change.user_key.clone(), change.new_user_key.clone());
        let derived_rows = self
            .write_derived(move |conn| {
                let tx = conn.transaction_with_behavior(DERIVED_WRITE)?;
                let mut moved =
                    tx.execute("UPDATE sequence_state SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                moved += tx.execute("UPDATE sequence_counts SET scope = ?2 WHERE scope = ?1", [&old_key, &new_key])?;
                moved +=
                    tx.execute("UPDATE profile_state SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                moved += tx.execute(
                    "UPDATE cluster_assignments SET user_key = ?2 WHERE user_key = ?1",
                    [&old_key, &new_key],
                )?;
                moved +=
                    tx.execute("UPDATE user_active_days SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                moved += tx.execute("UPDATE user_days SET user_key = ?2 WHERE user_key = ?1", [&old_key, &new_key])?;
                tx.commit()?;
                Ok(moved as u64)
            })
            .await?;
        let (old_key, new_key) = (change.user_key.clone(), change.new_user_key.clone());
        let logged = self
            .write_log(move |log, _| {
                change_logged(log, "user_key = ?1", "UPDATE event_log SET user_key = ?2", &[&old_key, &new_key])
            })
            .await?;
        let mut result = self
            .write(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let first_seen: Option<Option<i64>> = tx
                    .query_row("SELECT first_seen_us FROM users WHERE user_id = ?1", [&change.user_id], |row| row.get(0))
                    .optional()?;
                // The links name the person: they go with the identity.
                tx.execute(
                    "DELETE FROM identity_links WHERE user_id = ?1 OR anonymous_key = ?2",
                    [&change.user_id, &change.user_key],
                )?;
                forget_deliveries(&tx, &change.user_id)?;
                let account = tx.execute("DELETE FROM users WHERE user_id = ?1", [&change.user_id])? > 0;
                tx.execute("DELETE FROM login_attempts WHERE login_key = ?1", [&change.user_key])?;
                tx.execute("DELETE FROM request_usage WHERE caller_key = ?1", [&change.user_key])?;
                tx.execute(
                    "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us) VALUES (?1, ?2, ?3, ?4, ?4)",
                    params![change.new_user_id, change.new_user_key, first_seen.flatten(), change.now_us],
                )?;
                let events = logged
                    + tx.execute("UPDATE events SET user_key = ?2 WHERE user_key = ?1", [&change.user_key, &change.new_user_key])?
                        as u64;
                let consents = tx.execute("DELETE FROM consents WHERE user_id = ?1", [&change.user_id])? as u64;
                tx.execute("DELETE FROM profile_versions WHERE user_id = ?1", [&change.user_id])?;
                tx.execute(
                    "UPDATE profile_versions SET changed_by = ?2 WHERE changed_by = ?1",
                    [&change.user_id, &change.new_user_id],
                )?;
                tx.execute(
                    // The attributes describe the person (age, group): they go with the identity.
            "UPDATE attendance_registrations SET user_id = ?2, attributes = NULL WHERE user_id = ?1",
                    [&change.user_id, &change.new_user_id],
                )?;
                // The account is gone, and its tier history with it.
                tx.execute("DELETE FROM tier_changes WHERE user_id = ?1", [&change.user_id])?;
                tx.execute("DELETE FROM mfa_totp WHERE user_id = ?1", [&change.user_id])?;
                tx.execute("DELETE FROM mfa_codes WHERE user_id = ?1", [&change.user_id])?;
                tx.execute("DELETE FROM outbox WHERE user_id = ?1", [&change.user_id])?;
                tx.execute("DELETE FROM login_history WHERE user_id = ?1", [&change.user_id])?;
                tx.execute(
                    "UPDATE tier_changes SET changed_by = ?2 WHERE changed_by = ?1",
                    [&change.user_id, &change.new_user_id],
                )?;
                let audit_entries = scrub_audit(&tx, &change.scrub, &change.new_user_id)?;
                tx.commit()?;
                Ok(IdentityChange { account, events, consents, derived_rows: 0, audit_entries })
            })
            .await?;
        result.derived_rows = derived_rows;
        self.truncate_wals().await?;
        Ok(result)
    }
}
