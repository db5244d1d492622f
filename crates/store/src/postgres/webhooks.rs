//! Outbound webhooks on PostgreSQL: deliveries are claimed with `FOR UPDATE SKIP LOCKED` and a
//! lease, so that each node sends different ones.

use std::collections::HashMap;

use async_trait::async_trait;
use tokio_postgres::Row;

use super::PostgresStore;
use crate::WebhookStore;
use crate::error::StoreResult;
use crate::model::{from_json, to_json};
use crate::webhooks::*;

const DISPATCH: &str = "events";
/// Stores a mark, touching no row when its subject is already at that state (a concurrent
/// writer of the same mark waits on the row's lock, then finds it at that state).
const MARK: &str = "INSERT INTO webhook_marks (webhook_id, subject, state, user_id, at_us) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (webhook_id, subject) DO UPDATE SET state = excluded.state, user_id = excluded.user_id,
         at_us = excluded.at_us
     WHERE webhook_marks.state <> excluded.state";

/// A webhook read back; a list column that does not read is an error, never an empty list (an
/// empty `event_types` means every type).
fn hook_from_row(row: &Row) -> StoreResult<WebhookRecord> {
    Ok(WebhookRecord {
        webhook_id: row.get(0),
        url: row.get(1),
        kinds: from_json(row.get(2))?,
        event_types: from_json(row.get(3))?,
        secret_enc: row.get(4),
        from_seq: row.get(5),
        created_by: row.get(6),
        created_at_us: row.get(7),
        churn_threshold: row.get(8),
    })
}

const DELIVERY_COLUMNS: &str =
    "delivery_id, webhook_id, kind, user_id, payload, status, attempts, next_attempt_us, created_at_us, done_at_us";

fn delivery_from_row(row: &Row) -> DeliveryRecord {
    DeliveryRecord {
        delivery_id: row.get(0),
        webhook_id: row.get(1),
        kind: row.get(2),
        user_id: row.get(3),
        payload: row.get(4),
        status: row.get(5),
        attempts: row.get(6),
        next_attempt_us: row.get(7),
        created_at_us: row.get(8),
        done_at_us: row.get(9),
        log: Vec::new(),
    }
}

/// Puts a delivery in the outbox, due at once (run with the statement prepared from it).
const QUEUE: &str =
    "INSERT INTO webhook_deliveries (webhook_id, kind, user_id, payload, status, next_attempt_us, created_at_us)
     VALUES ($1, $2, $3, $4, 'pending', $5, $5)";

async fn queue(
    tx: &deadpool_postgres::Transaction<'_>,
    insert: &tokio_postgres::Statement,
    delivery: &NewDelivery,
) -> StoreResult<()> {
    let values: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
        [&delivery.webhook_id, &delivery.kind, &delivery.user_id, &delivery.payload, &delivery.created_at_us];
    tx.execute(insert, &values).await?;
    Ok(())
}

#[async_trait]
impl WebhookStore for PostgresStore {
    async fn create_webhook(&self, hook: WebhookRecord) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let kinds = to_json(&hook.kinds)?;
        let types = to_json(&hook.event_types)?;
        tx.execute(
            "INSERT INTO webhooks (webhook_id, url, kinds, event_types, secret_enc, from_seq, created_by, created_at_us,
                 churn_threshold)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &hook.webhook_id,
                &hook.url,
                &kinds,
                &types,
                &hook.secret_enc,
                &hook.from_seq,
                &hook.created_by,
                &hook.created_at_us,
                &hook.churn_threshold,
            ],
        )
        .await?;
        tx.execute(
            "INSERT INTO webhook_dispatch (name, watermark) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&DISPATCH, &hook.from_seq],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn webhooks(&self) -> StoreResult<Vec<WebhookRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT webhook_id, url, kinds, event_types, secret_enc, from_seq, created_by, created_at_us,
                     churn_threshold
                 FROM webhooks ORDER BY created_at_us, webhook_id",
                &[],
            )
            .await?;
        rows.iter().map(hook_from_row).collect()
    }

    async fn delete_webhook(&self, webhook_id: &str) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries WHERE webhook_id = $1)",
            &[&webhook_id],
        )
        .await?;
        tx.execute("DELETE FROM webhook_deliveries WHERE webhook_id = $1", &[&webhook_id]).await?;
        tx.execute("DELETE FROM webhook_marks WHERE webhook_id = $1", &[&webhook_id]).await?;
        let deleted = tx.execute("DELETE FROM webhooks WHERE webhook_id = $1", &[&webhook_id]).await? > 0;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn webhook_watermark(&self) -> StoreResult<Option<i64>> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt("SELECT watermark FROM webhook_dispatch WHERE name = $1", &[&DISPATCH])
            .await?
            .map(|row| row.get(0)))
    }

    async fn queue_deliveries(&self, advance: Option<(i64, i64)>, deliveries: Vec<NewDelivery>) -> StoreResult<bool> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        if let Some((expected, new)) = advance {
            let moved = tx
                .execute(
                    "UPDATE webhook_dispatch SET watermark = $3 WHERE name = $1 AND watermark = $2",
                    &[&DISPATCH, &expected, &new],
                )
                .await?;
            if moved == 0 {
                return Ok(false);
            }
        }
        let insert = tx.prepare(QUEUE).await?;
        for delivery in &deliveries {
            queue(&tx, &insert, delivery).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn webhook_marks(&self, webhook_id: &str) -> StoreResult<HashMap<String, String>> {
        let client = self.pool.get().await?;
        let rows =
            client.query("SELECT subject, state FROM webhook_marks WHERE webhook_id = $1", &[&webhook_id]).await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    async fn mark_and_queue(&self, marks: Vec<(WebhookMark, Option<NewDelivery>)>) -> StoreResult<usize> {
        if marks.is_empty() {
            return Ok(0);
        }
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let mark = tx.prepare(MARK).await?;
        let insert = tx.prepare(QUEUE).await?;
        let mut queued = 0;
        for (new, delivery) in &marks {
            let changed =
                tx.execute(&mark, &[&new.webhook_id, &new.subject, &new.state, &new.user_id, &new.at_us]).await? > 0;
            if let (true, Some(delivery)) = (changed, delivery) {
                queue(&tx, &insert, delivery).await?;
                queued += 1;
            }
        }
        tx.commit().await?;
        Ok(queued)
    }

    async fn claim_deliveries(&self, now_us: i64, lease_until_us: i64, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "UPDATE webhook_deliveries SET lease_until_us = $2
                     WHERE delivery_id IN (SELECT delivery_id FROM webhook_deliveries
                         WHERE status = 'pending' AND next_attempt_us <= $1 AND lease_until_us <= $1
                         ORDER BY next_attempt_us, delivery_id LIMIT $3 FOR UPDATE SKIP LOCKED)
                     RETURNING {DELIVERY_COLUMNS}"
                ),
                &[&now_us, &lease_until_us, &i64::from(limit)],
            )
            .await?;
        let mut claimed: Vec<DeliveryRecord> = rows.iter().map(delivery_from_row).collect();
        claimed.sort_by_key(|delivery| (delivery.next_attempt_us, delivery.delivery_id));
        Ok(claimed)
    }

    async fn record_attempt(&self, attempt: DeliveryAttempt, outcome: DeliveryOutcome) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO webhook_attempts (delivery_id, attempt, at_us, status_code, error, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
            &[
                &attempt.delivery_id,
                &attempt.attempt,
                &attempt.at_us,
                &attempt.status_code,
                &attempt.error,
                &attempt.duration_ms,
            ],
        )
        .await?;
        let done = (outcome.status != "pending").then_some(attempt.at_us);
        tx.execute(
            "UPDATE webhook_deliveries SET status = $2, attempts = $3, next_attempt_us = $4, lease_until_us = 0,
                 done_at_us = $5 WHERE delivery_id = $1",
            &[&attempt.delivery_id, &outcome.status, &attempt.attempt, &outcome.next_attempt_us, &done],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn deliveries(&self, of: DeliveriesOf, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        let client = self.pool.get().await?;
        let (column, value) = of.condition();
        let rows = client
            .query(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {column} = $1 ORDER BY delivery_id DESC LIMIT $2"
                ),
                &[&value, &i64::from(limit)],
            )
            .await?;
        let mut deliveries: Vec<DeliveryRecord> = rows.iter().map(delivery_from_row).collect();
        let ids: Vec<i64> = deliveries.iter().map(|delivery| delivery.delivery_id).collect();
        let attempts = client
            .query(
                "SELECT delivery_id, attempt, at_us, status_code, error, duration_ms FROM webhook_attempts
                 WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
                &[&ids],
            )
            .await?;
        for row in &attempts {
            let attempt = DeliveryAttempt {
                delivery_id: row.get(0),
                attempt: row.get(1),
                at_us: row.get(2),
                status_code: row.get(3),
                error: row.get(4),
                duration_ms: row.get(5),
            };
            if let Some(delivery) = deliveries.iter_mut().find(|delivery| delivery.delivery_id == attempt.delivery_id) {
                delivery.log.push(attempt);
            }
        }
        Ok(deliveries)
    }
}
