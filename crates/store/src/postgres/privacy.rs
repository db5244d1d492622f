//! Erasure and anonymisation: every table that names a user or their pseudonym.

use std::collections::HashSet;

use async_trait::async_trait;

use super::{INGEST_LOCK, PROCESSING_LOCK, PostgresStore};
use crate::PrivacyStore;
use crate::error::StoreResult;
use crate::model::*;

/// Replaces each of `scrub` (longest first, so a username holding the id goes whole) by
/// `replacement` in the audit log's actor and subject, and wherever it is a whole JSON string in
/// the detail (`"u1"`, never the `u1` inside `"u10"`); returns the entries changed.
async fn scrub_audit(tx: &deadpool_postgres::Transaction<'_>, scrub: &[String], replacement: &str) -> StoreResult<u64> {
    let mut values: Vec<&String> = scrub.iter().filter(|value| !value.is_empty()).collect();
    values.sort_by_key(|value| std::cmp::Reverse(value.len()));
    let mut changed = HashSet::new();
    for value in values {
        let quoted = serde_json::Value::String(value.clone()).to_string();
        let quoted_replacement = serde_json::Value::String(replacement.to_owned()).to_string();
        let rows = tx
            .query(
                "UPDATE audit_log SET
                     actor = CASE WHEN actor = $1 THEN $2 ELSE actor END,
                     subject = CASE WHEN subject = $1 THEN $2 ELSE subject END,
                     detail = replace(detail, $3, $4)
                 WHERE actor = $1 OR subject = $1 OR strpos(detail, $3) > 0
                 RETURNING id",
                &[value, &replacement, &quoted, &quoted_replacement],
            )
            .await?;
        changed.extend(rows.iter().map(|row| row.get::<_, i64>(0)));
    }
    Ok(changed.len() as u64)
}

/// Takes an erased user's processed events out of the daily counts and their days out of the
/// daily active users, then forgets their active days; returns the rows deleted.
async fn forget_daily_activity(tx: &deadpool_postgres::Transaction<'_>, user_key: &str) -> StoreResult<u64> {
    let kept = tx.query("SELECT period, days FROM user_active_days WHERE user_key = $1", &[&user_key]).await?;
    if kept.is_empty() {
        return Ok(0);
    }
    tx.execute(
        "UPDATE daily_event_counts c SET events = c.events - e.n
         FROM (SELECT (ts_us / 86400000000) * 86400000000 AS day_us, type, count(*) AS n FROM events
               WHERE user_key = $1 AND seq <= (SELECT coalesce(max(watermark), 0) FROM processor_state WHERE name = 'sequences')
               GROUP BY 1, 2) AS e
         WHERE c.day_us = e.day_us AND c.type = e.type",
        &[&user_key],
    )
    .await?;
    let days: Vec<i64> =
        kept.iter().flat_map(|row| ActiveDays::day_starts(row.get(0), row.get(1)).collect::<Vec<_>>()).collect();
    tx.execute("UPDATE daily_active_users SET users = users - 1 WHERE day_us = ANY($1::int8[])", &[&days]).await?;
    Ok(tx.execute("DELETE FROM user_active_days WHERE user_key = $1", &[&user_key]).await?)
}

/// The pseudonym's own derived rows: sequence state and counts, profile, segment assignments
/// and days; returns how many were deleted.
async fn forget_user_rows(tx: &deadpool_postgres::Transaction<'_>, user_key: &str) -> StoreResult<u64> {
    let mut removed = 0;
    for table_and_column in [
        "sequence_state WHERE user_key",
        "sequence_counts WHERE scope",
        "profile_state WHERE user_key",
        "cluster_assignments WHERE user_key",
        "user_days WHERE user_key",
    ] {
        removed += tx.execute(&format!("DELETE FROM {table_and_column} = $1"), &[&user_key]).await?;
    }
    Ok(removed)
}

/// Webhook deliveries about the user, with their attempts, and what webhooks were told of them.
async fn forget_deliveries(tx: &deadpool_postgres::Transaction<'_>, user_id: &str) -> StoreResult<()> {
    tx.execute(
        "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries WHERE user_id = $1)",
        &[&user_id],
    )
    .await?;
    tx.execute("DELETE FROM webhook_deliveries WHERE user_id = $1", &[&user_id]).await?;
    tx.execute("DELETE FROM webhook_marks WHERE user_id = $1", &[&user_id]).await?;
    Ok(())
}

#[async_trait]
impl PrivacyStore for PostgresStore {
    async fn erase_user(&self, erasure: Erasure) -> StoreResult<IdentityChange> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Serialised with ingestion, so no commit for this user lands halfway through.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INGEST_LOCK]).await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PROCESSING_LOCK]).await?;
        // Before the events go: what of them processing counted comes out of the daily counts.
        let forgotten = forget_daily_activity(&tx, &erasure.user_key).await?;
        let events = tx.execute("DELETE FROM events WHERE user_key = $1", &[&erasure.user_key]).await?;
        let consents = tx.execute("DELETE FROM consents WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM profile_versions WHERE user_id = $1", &[&erasure.user_id]).await?;
        // Versions of other users' profiles that this user changed.
        tx.execute(
            "UPDATE profile_versions SET changed_by = $2 WHERE changed_by = $1",
            &[&erasure.user_id, &erasure.replacement],
        )
        .await?;
        tx.execute("DELETE FROM attendance_registrations WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM tier_changes WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM mfa_totp WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM mfa_codes WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM outbox WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute("DELETE FROM login_history WHERE user_id = $1", &[&erasure.user_id]).await?;
        tx.execute(
            "UPDATE tier_changes SET changed_by = $2 WHERE changed_by = $1",
            &[&erasure.user_id, &erasure.replacement],
        )
        .await?;
        tx.execute(
            "DELETE FROM identity_links WHERE user_id = $1 OR anonymous_key = $2",
            &[&erasure.user_id, &erasure.user_key],
        )
        .await?;
        forget_deliveries(&tx, &erasure.user_id).await?;
        let account = tx.execute("DELETE FROM users WHERE user_id = $1", &[&erasure.user_id]).await? > 0;
        tx.execute("DELETE FROM login_attempts WHERE login_key = $1", &[&erasure.user_key]).await?;
        tx.execute("DELETE FROM request_usage WHERE caller_key = $1", &[&erasure.user_key]).await?;
        let derived_rows = forgotten + forget_user_rows(&tx, &erasure.user_key).await?;
        tx.execute(
            "INSERT INTO erasures (tombstone, erased_at_us) VALUES ($1, $2)
             ON CONFLICT (tombstone) DO UPDATE SET erased_at_us = excluded.erased_at_us",
            &[&erasure.tombstone, &erasure.now_us],
        )
        .await?;
        let audit_entries = scrub_audit(&tx, &erasure.scrub, &erasure.replacement).await?;
        tx.commit().await?;
        Ok(IdentityChange { account, events, consents, derived_rows, audit_entries })
    }

    async fn erased_among(&self, tombstones: &[String]) -> StoreResult<Vec<String>> {
        let client = self.pool.get().await?;
        let rows =
            client.query("SELECT tombstone FROM erasures WHERE tombstone = ANY($1::text[])", &[&tombstones]).await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    async fn clear_tombstone(&self, tombstone: &str) -> StoreResult<()> {
        let client = self.pool.get().await?;
        client.execute("DELETE FROM erasures WHERE tombstone = $1", &[&tombstone]).await?;
        Ok(())
    }

    async fn forget_moved_events(
        &self,
        user_key: &str,
        up_to_seq: i64,
        global: Vec<SequenceCount>,
    ) -> StoreResult<u64> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PROCESSING_LOCK]).await?;
        // Before the events go: what of them processing counted comes out of the daily counts.
        forget_daily_activity(&tx, user_key).await?;
        let contexts: Vec<&str> = global.iter().map(|delta| delta.context.as_str()).collect();
        let nexts: Vec<&str> = global.iter().map(|delta| delta.next.as_str()).collect();
        let counts: Vec<i64> = global.iter().map(|delta| delta.count).collect();
        tx.execute(
            "UPDATE sequence_counts s SET count = s.count + d.count
             FROM unnest($1::text[], $2::text[], $3::int8[]) AS d(context, next, count)
             WHERE s.scope = '' AND s.context = d.context AND s.next = d.next",
            &[&contexts, &nexts, &counts],
        )
        .await?;
        tx.execute(
            "DELETE FROM sequence_counts s USING unnest($1::text[], $2::text[]) AS d(context, next)
             WHERE s.scope = '' AND s.context = d.context AND s.next = d.next AND s.count <= 0",
            &[&contexts, &nexts],
        )
        .await?;
        forget_user_rows(&tx, user_key).await?;
        let events =
            tx.execute("DELETE FROM events WHERE user_key = $1 AND seq <= $2", &[&user_key, &up_to_seq]).await?;
        tx.commit().await?;
        Ok(events)
    }

    async fn anonymize_user(&self, change: Anonymization) -> StoreResult<IdentityChange> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INGEST_LOCK]).await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&PROCESSING_LOCK]).await?;
        let first_seen: Option<i64> = tx
            .query_opt("SELECT first_seen_us FROM users WHERE user_id = $1", &[&change.user_id])
            .await?
            .and_then(|row| row.get(0));
        // The links name the person: they go with the identity.
        tx.execute(
            "DELETE FROM identity_links WHERE user_id = $1 OR anonymous_key = $2",
            &[&change.user_id, &change.user_key],
        )
        .await?;
        forget_deliveries(&tx, &change.user_id).await?;
        let account = tx.execute("DELETE FROM users WHERE user_id = $1", &[&change.user_id]).await? > 0;
        tx.execute("DELETE FROM login_attempts WHERE login_key = $1", &[&change.user_key]).await?;
        tx.execute("DELETE FROM request_usage WHERE caller_key = $1", &[&change.user_key]).await?;
        tx.execute(
            "INSERT INTO users (user_id, user_key, first_seen_us, created_at_us, updated_at_us) VALUES ($1, $2, $3, $4, $4)",
            &[&change.new_user_id, &change.new_user_key, &first_seen, &change.now_us],
        )
        .await?;
        let events = tx
            .execute("UPDATE events SET user_key = $2 WHERE user_key = $1", &[&change.user_key, &change.new_user_key])
            .await?;
        let consents = tx.execute("DELETE FROM consents WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute("DELETE FROM profile_versions WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute(
            "UPDATE profile_versions SET changed_by = $2 WHERE changed_by = $1",
            &[&change.user_id, &change.new_user_id],
        )
        .await?;
        tx.execute(
            // The attributes describe the person (age, group): they go with the identity.
            "UPDATE attendance_registrations SET user_id = $2, attributes = NULL WHERE user_id = $1",
            &[&change.user_id, &change.new_user_id],
        )
        .await?;
        // The account is gone, and its tier history with it.
        tx.execute("DELETE FROM tier_changes WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute("DELETE FROM mfa_totp WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute("DELETE FROM mfa_codes WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute("DELETE FROM outbox WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute("DELETE FROM login_history WHERE user_id = $1", &[&change.user_id]).await?;
        tx.execute(
            "UPDATE tier_changes SET changed_by = $2 WHERE changed_by = $1",
            &[&change.user_id, &change.new_user_id],
        )
        .await?;
        let mut derived_rows = tx
            .execute(
                "UPDATE sequence_state SET user_key = $2 WHERE user_key = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        derived_rows += tx
            .execute(
                "UPDATE sequence_counts SET scope = $2 WHERE scope = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        derived_rows += tx
            .execute(
                "UPDATE profile_state SET user_key = $2 WHERE user_key = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        derived_rows += tx
            .execute(
                "UPDATE cluster_assignments SET user_key = $2 WHERE user_key = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        derived_rows += tx
            .execute(
                "UPDATE user_active_days SET user_key = $2 WHERE user_key = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        derived_rows += tx
            .execute(
                "UPDATE user_days SET user_key = $2 WHERE user_key = $1",
                &[&change.user_key, &change.new_user_key],
            )
            .await?;
        let audit_entries = scrub_audit(&tx, &change.scrub, &change.new_user_id).await?;
        tx.commit().await?;
        Ok(IdentityChange { account, events, consents, derived_rows, audit_entries })
    }
}
