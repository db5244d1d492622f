//! The model registry and the log of calls to ML operations.

use async_trait::async_trait;

use super::PostgresStore;
use crate::RegistryStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

const MODEL_COLUMNS: &str = "model_id, name, model_type, version, status, hyperparameters, data_window, metrics, \
                             parameters, rows_used, error, predictions, created_at_us, trained_at_us";

fn model_from_row(row: &tokio_postgres::Row) -> ModelRecord {
    ModelRecord {
        model_id: row.get(0),
        name: row.get(1),
        model_type: row.get(2),
        version: row.get(3),
        status: row.get(4),
        hyperparameters: row.get(5),
        data_window: row.get(6),
        metrics: row.get(7),
        parameters: row.get(8),
        rows_used: row.get(9),
        error: row.get(10),
        predictions: row.get(11),
        created_at_us: row.get(12),
        trained_at_us: row.get(13),
    }
}

#[async_trait]
impl RegistryStore for PostgresStore {
    async fn create_model(&self, model: ModelRecord) -> StoreResult<ModelRecord> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Versions of one name are numbered one at a time, across nodes.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('models:' || $1))", &[&model.name]).await?;
        let version: i64 = tx
            .query_one("SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = $1", &[&model.name])
            .await?
            .get(0);
        let model = ModelRecord { version, ..model };
        tx.execute(
            &format!(
                "INSERT INTO models ({MODEL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &model.model_id,
                &model.name,
                &model.model_type,
                &model.version,
                &model.status,
                &model.hyperparameters,
                &model.data_window,
                &model.metrics,
                &model.parameters,
                &model.rows_used,
                &model.error,
                &model.predictions,
                &model.created_at_us,
                &model.trained_at_us,
            ],
        )
        .await
        .map_err(|error| match error.as_db_error() {
            Some(db) if db.code() == &tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Conflict("model id".to_owned())
            }
            _ => error.into(),
        })?;
        tx.commit().await?;
        Ok(model)
    }

    async fn update_model(&self, model: ModelRecord) -> StoreResult<()> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE models SET status = $2, metrics = $3, parameters = $4, rows_used = $5, error = $6, trained_at_us = $7,
                        data_window = $8
                 WHERE model_id = $1",
                &[
                    &model.model_id,
                    &model.status,
                    &model.metrics,
                    &model.parameters,
                    &model.rows_used,
                    &model.error,
                    &model.trained_at_us,
                    &model.data_window,
                ],
            )
            .await?;
        if updated == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn model(&self, model_id: &str) -> StoreResult<Option<ModelRecord>> {
        let client = self.pool.get().await?;
        let row =
            client.query_opt(&format!("SELECT {MODEL_COLUMNS} FROM models WHERE model_id = $1"), &[&model_id]).await?;
        Ok(row.as_ref().map(model_from_row))
    }

    async fn models(&self, filter: ModelFilter) -> StoreResult<Vec<ModelRecord>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {MODEL_COLUMNS} FROM models
                     WHERE ($1::text IS NULL OR name = $1) AND ($2::text IS NULL OR model_type = $2)
                       AND ($3::text IS NULL OR status = $3)
                     ORDER BY created_at_us DESC, version DESC"
                ),
                &[&filter.name, &filter.model_type, &filter.status],
            )
            .await?;
        Ok(rows.iter().map(model_from_row).collect())
    }

    async fn record_ml_call(&self, call: MlCall) -> StoreResult<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "INSERT INTO ml_calls (at_us, operation, model_id, predictions, duration_us, outcome)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&call.at_us, &call.operation, &call.model_id, &call.predictions, &call.duration_us, &call.outcome],
        )
        .await?;
        if let Some(model_id) = &call.model_id
            && call.predictions > 0
        {
            tx.execute(
                "UPDATE models SET predictions = predictions + $2 WHERE model_id = $1",
                &[model_id, &call.predictions],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn ml_call_buckets(&self, from_us: i64) -> StoreResult<Vec<MlCallBucket>> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT at_us - (at_us % 3600000000) AS hour_us, operation, model_id, outcome, count(*),
                        sum(predictions)::bigint, sum(duration_us)::bigint, max(duration_us)
                 FROM ml_calls WHERE at_us >= $1
                 GROUP BY 1, operation, model_id, outcome
                 ORDER BY 1, operation COLLATE \"C\", model_id IS NOT NULL, model_id COLLATE \"C\", outcome COLLATE \"C\"",
                &[&from_us],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| MlCallBucket {
                hour_us: row.get(0),
                operation: row.get(1),
                model_id: row.get(2),
                outcome: row.get(3),
                calls: row.get(4),
                predictions: row.get(5),
                total_duration_us: row.get(6),
                max_duration_us: row.get(7),
            })
            .collect())
    }

    async fn expire_ml_calls(&self, before_us: i64) -> StoreResult<u64> {
        let client = self.pool.get().await?;
        Ok(client.execute("DELETE FROM ml_calls WHERE at_us < $1", &[&before_us]).await?)
    }
}
