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

/// A derived file from before the daily activity (derived migration 6) gets it filled from the
/// events processed so far, once, when the store opens: the events not processed yet are left
/// to processing.
#[tokio::test]
async fn the_daily_activity_of_already_processed_events_is_filled_on_open() {
    const DAY: i64 = DAY_US;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let location = StoreLocation::Sqlite(path.clone());
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    let start = 1_700_006_400_000_000;
    let events: Vec<NewEvent> = [("a", 0), ("a", 0), ("b", 0), ("b", 1), ("c", 2)]
        .into_iter()
        .enumerate()
        .map(|(n, (user, day))| NewEvent {
            event_id: format!("01EVENT{n:019}"),
            user_id: user.to_owned(),
            user_key: format!("key-{user}"),
            message_id: None,
            session_id: None,
            event_type: "view".to_owned(),
            properties: "{}".to_owned(),
            context: "{}".to_owned(),
            timestamp_us: start + day * DAY + n as i64,
            received_us: start + day * DAY + n as i64,
            consent: None,
        })
        .collect();
    let options =
        CommitOptions { session_gap_us: 1_800_000_000, consent_default: footprint_analytics::Consent::GRANT_ALL };
    store.commit_events(events.into(), options).await.unwrap();
    let seqs: Vec<i64> = store.events_in_arrival_order(0, 10).await.unwrap().iter().map(|e| e.seq).collect();
    // Processed (by an earlier version) up to b's second event; c's is not processed yet.
    let batch = SequenceBatch {
        processor: "sequences".to_owned(),
        expected_watermark: 0,
        new_watermark: seqs[3],
        deltas: Vec::new(),
        states: Vec::new(),
        profiles: Vec::new(),
        day_counts: Vec::new(),
        active_days: Vec::new(),
        user_days: Vec::new(),
        now_us: 1,
    };
    assert!(store.commit_sequence_batch(batch).await.unwrap());
    drop(store);
    {
        let derived = rusqlite::Connection::open(dir.path().join("footprint-derived.db")).unwrap();
        derived
            .execute_batch(
                "DROP TABLE daily_event_counts; DROP TABLE daily_active_users; DROP TABLE user_active_days;
                 DROP TABLE upkeep; DELETE FROM schema_migrations WHERE version = 6;",
            )
            .unwrap();
    }
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    let counts: Vec<(i64, i64)> = store
        .daily_type_counts(start, start + 10 * DAY)
        .await
        .unwrap()
        .iter()
        .map(|c| ((c.day_us - start) / DAY, c.events))
        .collect();
    assert_eq!(counts, [(0, 3), (1, 1)]);
    let users: Vec<(i64, i64)> = store
        .daily_active_users(start, start + 10 * DAY)
        .await
        .unwrap()
        .iter()
        .map(|d| ((d.day_us - start) / DAY, d.users))
        .collect();
    assert_eq!(users, [(0, 2), (1, 1)]);
    let window = DayWindow { from_us: start, to_us: start + 10 * DAY };
    assert_eq!(store.active_users(&[window]).await.unwrap(), [2]);
    drop(store);
    // Once: opening again adds nothing.
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    assert_eq!(store.daily_type_counts(start, start + DAY).await.unwrap()[0].events, 3);
}

/// A derived file from before the activity per user and day (derived migration 7) gets it filled
/// from the events processed so far, once: sessions by the 30-minute gap, monetary values from
/// `revenue`, `amount` or `total`.
#[tokio::test]
async fn the_activity_per_user_and_day_of_already_processed_events_is_filled_on_open() {
    const MINUTE: i64 = 60_000_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let location = StoreLocation::Sqlite(path.clone());
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    let start = 1_700_006_400_000_000;
    // a: 00:00 (12.5 revenue), 00:10 (amount 2), 01:00 (a new session); then day 1; b: one event, not processed.
    let events: Vec<NewEvent> = [
        ("a", 0, r#"{"revenue": 12.5}"#),
        ("a", 10, r#"{"amount": 2, "revenue": "n/a"}"#),
        ("a", 60, r#"{"total": "3"}"#),
        ("a", 24 * 60, "{}"),
        ("b", 5, r#"{"revenue": 7}"#),
    ]
    .into_iter()
    .enumerate()
    .map(|(n, (user, minute, properties))| NewEvent {
        event_id: format!("01EVENT{n:019}"),
        user_id: user.to_owned(),
        user_key: format!("key-{user}"),
        message_id: None,
        session_id: None,
        event_type: "view".to_owned(),
        properties: properties.to_owned(),
        context: "{}".to_owned(),
        timestamp_us: start + minute * MINUTE,
        received_us: start + minute * MINUTE,
        consent: None,
    })
    .collect();
    let options =
        CommitOptions { session_gap_us: 30 * MINUTE, consent_default: footprint_analytics::Consent::GRANT_ALL };
    store.commit_events(events.into(), options).await.unwrap();
    let seqs: Vec<i64> = store.events_in_arrival_order(0, 10).await.unwrap().iter().map(|e| e.seq).collect();
    let batch = SequenceBatch {
        processor: "sequences".to_owned(),
        expected_watermark: 0,
        new_watermark: seqs[3],
        deltas: Vec::new(),
        states: Vec::new(),
        profiles: Vec::new(),
        day_counts: Vec::new(),
        active_days: Vec::new(),
        user_days: Vec::new(),
        now_us: 1,
    };
    assert!(store.commit_sequence_batch(batch).await.unwrap());
    drop(store);
    {
        let derived = rusqlite::Connection::open(dir.path().join("footprint-derived.db")).unwrap();
        derived.execute_batch("DROP TABLE user_days; DELETE FROM schema_migrations WHERE version = 7;").unwrap();
    }
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    let day = start / DAY_US;
    let days: Vec<(i64, i64, i64, f64, f64)> = store
        .user_days_after(None, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.day - day, d.events, d.sessions, d.session_seconds, d.amount))
        .collect();
    assert_eq!(days, [(0, 3, 2, 600.0, 14.5), (1, 1, 1, 0.0, 0.0)], "b's event is left to processing");
    drop(store);
    let store = open(&location, &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap();
    assert_eq!(store.user_days("key-a", 0).await.unwrap()[0].events, 3, "filled once");
}
