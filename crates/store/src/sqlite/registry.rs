//! The model registry and the log of calls to ML operations.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use crate::RegistryStore;
use crate::error::{StoreError, StoreResult};
use crate::model::*;

const MODEL_COLUMNS: &str = "model_id, name, model_type, version, status, hyperparameters, data_window, metrics, \
                             parameters, rows_used, error, predictions, created_at_us, trained_at_us";

fn model_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ModelRecord> {
    Ok(ModelRecord {
        model_id: row.get(0)?,
        name: row.get(1)?,
        model_type: row.get(2)?,
        version: row.get(3)?,
        status: row.get(4)?,
        hyperparameters: row.get(5)?,
        data_window: row.get(6)?,
        metrics: row.get(7)?,
        parameters: row.get(8)?,
        rows_used: row.get(9)?,
        error: row.get(10)?,
        predictions: row.get(11)?,
        created_at_us: row.get(12)?,
        trained_at_us: row.get(13)?,
    })
}

#[async_trait]
impl RegistryStore for SqliteStore {
    async fn create_model(&self, model: ModelRecord) -> StoreResult<ModelRecord> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let version: i64 = tx.query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM models WHERE name = ?1",
                [&model.name],
                |row| row.get(0),
            )?;
            let model = ModelRecord { version, ..model };
            tx.execute(
                &format!("INSERT INTO models ({MODEL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"),
                params![
                    model.model_id,
                    model.name,
                    model.model_type,
                    model.version,
                    model.status,
                    model.hyperparameters,
                    model.data_window,
                    model.metrics,
                    model.parameters,
                    model.rows_used,
                    model.error,
                    model.predictions,
                    model.created_at_us,
                    model.trained_at_us
                ],
            )
            .map_err(|error| match &error {
                // Only a taken id (or name and version) is a conflict; other constraints are errors.
                rusqlite::Error::SqliteFailure(failure, _)
                    if [rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY, rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE]
                        .contains(&failure.extended_code) =>
                {
                    StoreError::Conflict("model id".to_owned())
                }
                _ => error.into(),
            })?;
            tx.commit()?;
            Ok(model)
        })
        .await
    }

    async fn update_model(&self, model: ModelRecord) -> StoreResult<()> {
        self.write(move |conn| {
            let updated = conn.execute(
                "UPDATE models SET status = ?2, metrics = ?3, parameters = ?4, rows_used = ?5, error = ?6, trained_at_us = ?7,
                        data_window = ?8
                 WHERE model_id = ?1",
                params![
                    model.model_id,
                    model.status,
                    model.metrics,
                    model.parameters,
                    model.rows_used,
                    model.error,
                    model.trained_at_us,
                    model.data_window
                ],
            )?;
            if updated == 0 {
                return Err(StoreError::NotFound);
            }
            Ok(())
        })
        .await
    }

    async fn model(&self, model_id: &str) -> StoreResult<Option<ModelRecord>> {
        let model_id = model_id.to_owned();
        self.read(move |conn| {
            let sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE model_id = ?1");
            Ok(conn.prepare_cached(&sql)?.query_row([model_id], model_from_row).optional()?)
        })
        .await
    }

    async fn models(&self, filter: ModelFilter) -> StoreResult<Vec<ModelRecord>> {
        self.read(move |conn| {
            let mut sql = format!("SELECT {MODEL_COLUMNS} FROM models WHERE 1 = 1");
            let mut values: Vec<Value> = Vec::new();
            for (column, value) in [("name", filter.name), ("model_type", filter.model_type), ("status", filter.status)]
            {
                if let Some(value) = value {
                    values.push(Value::Text(value));
                    sql.push_str(&format!(" AND {column} = ?{}", values.len()));
                }
            }
            sql.push_str(" ORDER BY created_at_us DESC, version DESC");
            let models = conn
                .prepare_cached(&sql)?
                .query_map(rusqlite::params_from_iter(values), model_from_row)?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(models)
        })
        .await
    }

    async fn record_ml_call(&self, call: MlCall) -> StoreResult<()> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "INSERT INTO ml_calls (at_us, operation, model_id, predictions, duration_us, outcome)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![call.at_us, call.operation, call.model_id, call.predictions, call.duration_us, call.outcome],
            )?;
            if let Some(model_id) = &call.model_id
                && call.predictions > 0
            {
                tx.execute(
                    "UPDATE models SET predictions = predictions + ?2 WHERE model_id = ?1",
                    params![model_id, call.predictions],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn ml_call_buckets(&self, from_us: i64) -> StoreResult<Vec<MlCallBucket>> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT at_us - (at_us % 3600000000) AS hour_us, operation, model_id, outcome, count(*),
                            sum(predictions), sum(duration_us), max(duration_us)
                     FROM ml_calls WHERE at_us >= ?1
                     GROUP BY 1, operation, model_id, outcome
                     ORDER BY 1, operation, model_id IS NOT NULL, model_id, outcome",
            )?;
            let buckets = stmt
                .query_map([from_us], |row| {
                    Ok(MlCallBucket {
                        hour_us: row.get(0)?,
                        operation: row.get(1)?,
                        model_id: row.get(2)?,
                        outcome: row.get(3)?,
                        calls: row.get(4)?,
                        predictions: row.get(5)?,
                        total_duration_us: row.get(6)?,
                        max_duration_us: row.get(7)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(buckets)
        })
        .await
    }

    async fn expire_ml_calls(&self, before_us: i64) -> StoreResult<u64> {
        self.write(move |conn| Ok(conn.execute("DELETE FROM ml_calls WHERE at_us < ?1", [before_us])? as u64)).await
    }
}
