//! A SQLite store created by an early version (main-file migrations 1 and 2, where 2 created the
//! sequence tables since moved to the derived file) opens with today's code: the registry it
//! skipped is created and the tables left behind are gone.

#![allow(clippy::unwrap_used)]

use footprint_store::*;

#[tokio::test]
async fn an_early_sqlite_store_is_repaired_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at_us INTEGER NOT NULL);",
        )
        .unwrap();
        for (version, sql) in [
            (1, include_str!("../src/sqlite/migrations/0001_foundation.sql")),
            (2, include_str!("fixtures/sqlite_v2_sequences.sql")),
        ] {
            conn.execute_batch(sql).unwrap();
            conn.execute("INSERT INTO schema_migrations VALUES (?1, 0)", [version]).unwrap();
        }
    }
    let store = open(&StoreLocation::Sqlite(path.clone()), &SqliteOptions::default(), &PostgresOptions::default())
        .await
        .unwrap();
    let model = ModelRecord::registered("m1", "attendance_predictor", "attendance_predictor", "ready", 1);
    assert_eq!(store.create_model(model).await.unwrap().version, 1, "the registry exists");
    assert!(store.metric_aggregates("match", 0).await.unwrap().is_empty());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let left: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'
             AND name IN ('sequence_state', 'sequence_counts', 'processor_state')",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "the tables that moved to the derived file are gone from the main one");
}
