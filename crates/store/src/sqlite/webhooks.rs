//! Outbound webhooks: subscriptions, the outbox of deliveries, their attempts, and the dispatch
//! watermark, all in the main file.

use std::collections::HashMap;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

use super::SqliteStore;
use crate::WebhookStore;
use crate::error::StoreResult;
use crate::model::to_json;
use crate::webhooks::*;

const DISPATCH: &str = "events";
/// Stores a mark, touching no row when its subject is already at that state.
const MARK: &str = "INSERT INTO webhook_marks (webhook_id, subject, state, user_id, at_us) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (webhook_id, subject) DO UPDATE SET state = excluded.state, user_id = excluded.user_id,
         at_us = excluded.at_us
     WHERE webhook_marks.state <> excluded.state";

/// A list column read back: one that does not read is an error, never an empty list (an empty
/// `event_types` means every type).
fn list(row: &Row<'_>, column: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = row.get(column)?;
    serde_json::from_str(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(error))
    })
}

fn hook_from_row(row: &Row<'_>) -> rusqlite::Result<WebhookRecord> {
    Ok(WebhookRecord {
        webhook_id: row.get(0)?,
        url: row.get(1)?,
        kinds: list(row, 2)?,
        event_types: list(row, 3)?,
        secret_enc: row.get(4)?,
        from_seq: row.get(5)?,
        created_by: row.get(6)?,
        created_at_us: row.get(7)?,
        churn_threshold: row.get(8)?,
    })
}

const DELIVERY_COLUMNS: &str =
    "delivery_id, webhook_id, kind, user_id, payload, status, attempts, next_attempt_us, created_at_us, done_at_us";

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRecord> {
    Ok(DeliveryRecord {
        delivery_id: row.get(0)?,
        webhook_id: row.get(1)?,
        kind: row.get(2)?,
        user_id: row.get(3)?,
        payload: row.get(4)?,
        status: row.get(5)?,
        attempts: row.get(6)?,
        next_attempt_us: row.get(7)?,
        created_at_us: row.get(8)?,
        done_at_us: row.get(9)?,
        log: Vec::new(),
    })
}

/// Puts a delivery in the outbox, due at once.
fn queue(tx: &rusqlite::Transaction<'_>, delivery: &NewDelivery) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (webhook_id, kind, user_id, payload, status, next_attempt_us, created_at_us)
         VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
    )?
    .execute(params![
        delivery.webhook_id,
        delivery.kind,
        delivery.user_id,
        delivery.payload,
        delivery.created_at_us
    ])?;
    Ok(())
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook(&self, hook: WebhookRecord) -> StoreResult<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO webhooks (webhook_id, url, kinds, event_types, secret_enc, from_seq, created_by, created_at_us,
                     churn_threshold)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    hook.webhook_id,
                    hook.url,
                    to_json(&hook.kinds)?,
                    to_json(&hook.event_types)?,
                    hook.secret_enc,
                    hook.from_seq,
                    hook.created_by,
                    hook.created_at_us,
                    hook.churn_threshold
                ],
            )?;
            tx.execute(
                "INSERT INTO webhook_dispatch (name, watermark) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
                params![DISPATCH, hook.from_seq],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT webhook_id, url, kinds, event_types, secret_enc, from_seq, created_by, created_at_us,
                     churn_threshold
                 FROM webhooks ORDER BY created_at_us, webhook_id",
            )?;
            Ok(stmt.query_map([], hook_from_row)?.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn delete_webhook(&self, webhook_id: &str) -> StoreResult<bool> {
        let webhook_id = webhook_id.to_owned();
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries WHERE webhook_id = ?1)",
                [&webhook_id],
            )?;
            tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?1", [&webhook_id])?;
            tx.execute("DELETE FROM webhook_marks WHERE webhook_id = ?1", [&webhook_id])?;
            let deleted = tx.execute("DELETE FROM webhooks WHERE webhook_id = ?1", [&webhook_id])? > 0;
            tx.commit()?;
            Ok(deleted)
        })
        .await
    }

    async fn webhook_watermark(&self) -> StoreResult<Option<i64>> {
        self.read(|conn| {
            Ok(conn
                .query_row("SELECT watermark FROM webhook_dispatch WHERE name = ?1", [DISPATCH], |row| row.get(0))
                .optional()?)
        })
        .await
    }

    async fn queue_deliveries(&self, advance: Option<(i64, i64)>, deliveries: Vec<NewDelivery>) -> StoreResult<bool> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some((expected, new)) = advance {
                let moved = tx.execute(
                    "UPDATE webhook_dispatch SET watermark = ?3 WHERE name = ?1 AND watermark = ?2",
                    params![DISPATCH, expected, new],
                )?;
                if moved == 0 {
                    return Ok(false);
                }
            }
            for delivery in &deliveries {
                queue(&tx, delivery)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    async fn webhook_marks(&self, webhook_id: &str) -> StoreResult<HashMap<String, String>> {
        let webhook_id = webhook_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT subject, state FROM webhook_marks WHERE webhook_id = ?1")?;
            Ok(stmt.query_map([&webhook_id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn mark_and_queue(&self, marks: Vec<(WebhookMark, Option<NewDelivery>)>) -> StoreResult<usize> {
        if marks.is_empty() {
            return Ok(0);
        }
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut queued = 0;
            {
                let mut mark = tx.prepare_cached(MARK)?;
                for (new, delivery) in &marks {
                    let changed =
                        mark.execute(params![new.webhook_id, new.subject, new.state, new.user_id, new.at_us])? > 0;
                    if let (true, Some(delivery)) = (changed, delivery) {
                        queue(&tx, delivery)?;
                        queued += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(queued)
        })
        .await
    }

    async fn claim_deliveries(&self, now_us: i64, lease_until_us: i64, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let claimed = {
                let mut stmt = tx.prepare_cached(&format!(
                    "UPDATE webhook_deliveries SET lease_until_us = ?2
                     WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries
                         WHERE status = 'pending' AND next_attempt_us <= ?1 AND lease_until_us <= ?1
                         ORDER BY next_attempt_us, delivery_id LIMIT ?3)
                     RETURNING {DELIVERY_COLUMNS}"
                ))?;
                stmt.query_map(params![now_us, lease_until_us, limit], delivery_from_row)?
                    .collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(claimed)
        })
        .await
    }

    async fn record_attempt(&self, attempt: DeliveryAttempt, outcome: DeliveryOutcome) -> StoreResult<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO webhook_attempts (delivery_id, attempt, at_us, status_code, error, duration_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
                params![
                    attempt.delivery_id,
                    attempt.attempt,
                    attempt.at_us,
                    attempt.status_code,
                    attempt.error,
                    attempt.duration_ms
                ],
            )?;
            let done = (outcome.status != "pending").then_some(attempt.at_us);
            tx.execute(
                "UPDATE webhook_deliveries SET status = ?2, attempts = ?3, next_attempt_us = ?4, lease_until_us = 0,
                     done_at_us = ?5 WHERE delivery_id = ?1",
                params![attempt.delivery_id, outcome.status, attempt.attempt, outcome.next_attempt_us, done],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn deliveries(&self, of: DeliveriesOf, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        self.read(move |conn| {
            let (column, value) = of.condition();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {column} = ?1 ORDER BY delivery_id DESC LIMIT ?2"
            ))?;
            let mut deliveries =
                stmt.query_map(params![value, limit], delivery_from_row)?.collect::<Result<Vec<_>, _>>()?;
            let mut attempts = conn.prepare_cached(
                "SELECT delivery_id, attempt, at_us, status_code, error, duration_ms FROM webhook_attempts
                 WHERE delivery_id = ?1 ORDER BY attempt",
            )?;
            for delivery in &mut deliveries {
                delivery.log = attempts
                    .query_map([delivery.delivery_id], |row| {
                        Ok(DeliveryAttempt {
                            delivery_id: row.get(0)?,
                            attempt: row.get(1)?,
                            at_us: row.get(2)?,
                            status_code: row.get(3)?,
                            error: row.get(4)?,
                            duration_ms: row.get(5)?,
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
            }
            Ok(deliveries)
        })
        .await
    }
}
