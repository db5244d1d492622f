//! Erasure and anonymisation: every table that names a user or their pseudonym, in both files;
//! deleted rows are zeroed (`secure_delete`) and both WALs truncated afterwards.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

use super::SqliteStore;
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

#[async_trait]
impl PrivacyStore for SqliteStore {
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
                // Versions of other users' profiles that this user changed.
                tx.execute(
                    "UPDATE profile_versions SET changed_by = ?2 WHERE changed_by = ?1",
                    [&erasure.user_id, &erasure.replacement],
                )?;
                tx.execute("DELETE FROM attendance_registrations WHERE user_id = ?1", [&erasure.user_id])?;
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
        self.truncate_wals().await?;
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
                tx.execute("DELETE FROM login_attempts WHERE login_key = ?1", [&change.user_key])?;
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
                    "UPDATE profile_versions SET changed_by = ?2 WHERE changed_by = ?1",
                    [&change.user_id, &change.new_user_id],
                )?;
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
        self.truncate_wals().await?;
        Ok(result)
    }
}
