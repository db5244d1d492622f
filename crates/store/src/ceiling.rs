//! The raw store's ceiling, for `footprint bench ingest`: the same rows the events table takes,
//! written with nothing of Footprint around them and no index to maintain. SQLite: one writer
//! appending batches to a table without indexes, in WAL with `synchronous=FULL` as the store
//! runs; PostgreSQL: binary `COPY` of each batch into a table without indexes, from several
//! connections at once. What ingestion reaches is then read as a share of what the storage
//! engine itself allows on this machine, in the same run.

use std::path::Path;
use std::time::{Duration, Instant};

use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::Type;

use crate::error::StoreResult;

/// One event as the events table stores it.
#[derive(Debug, Clone)]
pub struct RawRow {
    pub event_id: String,
    pub user_key: String,
    pub message_id: String,
    pub session_id: String,
    pub event_type: String,
    pub properties: String,
    pub context: String,
    pub ts_us: i64,
    pub received_us: i64,
}

const COLUMNS: &str = "event_id, user_key, message_id, session_id, type, properties, context, ts_us, received_us";

const TABLE: &str = "CREATE TABLE raw_events (seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, user_key TEXT NOT NULL,
    message_id TEXT, session_id TEXT NOT NULL, type TEXT NOT NULL, properties TEXT NOT NULL, context TEXT NOT NULL,
    ts_us INTEGER NOT NULL, received_us INTEGER NOT NULL)";

/// What a ceiling run wrote.
#[derive(Debug, Clone, Copy)]
pub struct CeilingReport {
    pub rows: u64,
    pub elapsed: Duration,
}

impl CeilingReport {
    pub fn rows_per_sec(&self) -> f64 {
        self.rows as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// Appends `rows` (cycled) in transactions of `batch` rows to a fresh SQLite file in `dir`,
/// for `duration`.
pub async fn sqlite(dir: &Path, rows: Vec<RawRow>, batch: usize, duration: Duration) -> StoreResult<CeilingReport> {
    let path = dir.join("ceiling.db");
    tokio::task::spawn_blocking(move || {
        let mut conn = rusqlite::Connection::open(&path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute(TABLE, [])?;
        let started = Instant::now();
        let mut written = 0u64;
        let mut next = 0usize;
        while started.elapsed() < duration {
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(&format!(
                    "INSERT INTO raw_events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                ))?;
                for _ in 0..batch.max(1) {
                    let row = &rows[next % rows.len()];
                    next += 1;
                    insert.execute(rusqlite::params![
                        row.event_id,
                        row.user_key,
                        row.message_id,
                        row.session_id,
                        row.event_type,
                        row.properties,
                        row.context,
                        row.ts_us,
                        row.received_us
                    ])?;
                }
            }
            tx.commit()?;
            written += batch.max(1) as u64;
        }
        Ok(CeilingReport { rows: written, elapsed: started.elapsed() })
    })
    .await
    .map_err(|error| crate::StoreError::Other(Box::new(error)))?
}

/// `COPY`s `rows` (cycled) in batches of `batch` rows into a table without indexes of the
/// database at `url` (created in the schema the URL selects, dropped afterwards), over
/// `connections` connections at once, for `duration`.
pub async fn postgres(
    url: &str,
    rows: Vec<RawRow>,
    batch: usize,
    connections: usize,
    duration: Duration,
) -> StoreResult<CeilingReport> {
    let connect = || async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok::<_, tokio_postgres::Error>(client)
    };
    let admin = connect().await?;
    admin.batch_execute("DROP TABLE IF EXISTS raw_events").await?;
    admin
        .batch_execute(
            &TABLE.replace("seq INTEGER PRIMARY KEY", "seq BIGSERIAL PRIMARY KEY").replace("INTEGER", "BIGINT"),
        )
        .await?;
    let rows = std::sync::Arc::new(rows);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for connection in 0..connections.max(1) {
        let client = connect().await?;
        let rows = std::sync::Arc::clone(&rows);
        tasks.push(tokio::spawn(async move {
            let types = [
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::TEXT,
                Type::INT8,
                Type::INT8,
            ];
            let mut written = 0u64;
            let mut next = connection * 7_919;
            while started.elapsed() < duration {
                let sink = client.copy_in(&format!("COPY raw_events ({COLUMNS}) FROM STDIN (FORMAT binary)")).await?;
                let mut writer = std::pin::pin!(BinaryCopyInWriter::new(sink, &types));
                for _ in 0..batch.max(1) {
                    let row = &rows[next % rows.len()];
                    next += 1;
                    writer
                        .as_mut()
                        .write(&[
                            &row.event_id,
                            &row.user_key,
                            &row.message_id,
                            &row.session_id,
                            &row.event_type,
                            &row.properties,
                            &row.context,
                            &row.ts_us,
                            &row.received_us,
                        ])
                        .await?;
                }
                writer.finish().await?;
                written += batch.max(1) as u64;
            }
            Ok::<u64, tokio_postgres::Error>(written)
        }));
    }
    let mut written = 0;
    for task in tasks {
        written += task.await.map_err(|error| crate::StoreError::Other(Box::new(error)))??;
    }
    let elapsed = started.elapsed();
    admin.batch_execute("DROP TABLE raw_events").await?;
    Ok(CeilingReport { rows: written, elapsed })
}
