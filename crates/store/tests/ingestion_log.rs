//! SQLite's ingestion log: events acknowledged into the log are read back at once, exactly once,
//! whether they are still in the log, already moved into the indexed events table, or in both
//! (a move whose deletion from the log has not happened yet); duplicates are refused from both;
//! changes to a user's events reach the log too.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use footprint_store::*;

mod common;
use common::{MINUTE, T0, event, granting};

/// The mover runs when the store opens and closes only: what is committed stays in the log.
async fn open_holding(path: &Path) -> Arc<dyn Store> {
    let options = SqliteOptions { log_move_every: Duration::from_secs(3600), ..SqliteOptions::default() };
    open(&StoreLocation::Sqlite(path.to_owned()), &options, &PostgresOptions::default()).await.unwrap()
}

/// Rows of `table` in `file`, read beside the store.
fn count(file: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(file).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| row.get(0)).unwrap()
}

fn query(user: &str) -> EventQuery {
    EventQuery { user_key: Some(format!("key-{user}")), limit: 100, ..EventQuery::default() }
}

/// What the reads answer, in a form to compare before and after a move.
async fn reads(store: &Arc<dyn Store>) -> (Vec<(i64, String, String)>, Vec<SessionRecord>, i64, i64, usize) {
    let events = store.events(query("ana")).await.unwrap();
    let seen = events.iter().map(|e| (e.seq, e.event_id.clone(), e.session_id.clone())).collect();
    let sessions = store.sessions("key-ana").await.unwrap();
    let activity = store.user_activity("key-ana").await.unwrap();
    let arrivals = store.events_in_arrival_order(0, 100).await.unwrap();
    (seen, sessions, activity.n_events, store.max_event_seq().await.unwrap(), arrivals.len())
}

#[tokio::test]
async fn events_are_read_once_from_the_log_and_after_their_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let log = dir.path().join("footprint-log.db");
    let store = open_holding(&path).await;
    let batch = vec![event(1, "ana", 0, Some("m-1")), event(2, "ana", 5, Some("m-2")), event(3, "bob", 1, None)];
    let outcomes = store.commit_events(batch.into(), granting()).await.unwrap();
    assert!(outcomes.iter().all(|o| matches!(o, EventOutcome::Accepted { .. })), "{outcomes:?}");
    assert_eq!(count(&log, "event_log"), 3, "acknowledged into the log");
    assert_eq!(count(&path, "events"), 0, "not moved yet");

    let in_log = reads(&store).await;
    assert_eq!(in_log.0.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 2], "ana's events, in time order");
    assert_eq!(in_log.1.len(), 1, "one session");
    assert_eq!(in_log.1[0].n_events, 2);
    assert_eq!((in_log.2, in_log.3, in_log.4), (2, 3, 3));
    // A late event of ana joins her session, found in the log; a resent message is a duplicate.
    let outcomes = store
        .commit_events(vec![event(4, "ana", 3, None), event(5, "ana", 9, Some("m-2"))].into(), granting())
        .await
        .unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { ref session_id, .. } if *session_id == in_log.0[0].2));
    assert_eq!(outcomes[1], EventOutcome::Duplicate);
    let in_log = reads(&store).await;
    assert_eq!(in_log.0.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 4, 2]);

    // Closing moves the log into the events table.
    drop(store);
    let store = open_holding(&path).await;
    let moved = reads(&store).await;
    assert_eq!(moved, in_log, "the same answers once moved");
    assert_eq!(count(&path, "events"), 4);
    assert_eq!(count(&log, "event_log"), 0, "moved rows leave the log");

    // Duplicates of moved events are refused too; the next event gets the next seq.
    let outcomes = store
        .commit_events(vec![event(6, "ana", 10, Some("m-1")), event(7, "ana", 11, None)].into(), granting())
        .await
        .unwrap();
    assert_eq!(outcomes[0], EventOutcome::Duplicate);
    assert!(matches!(outcomes[1], EventOutcome::Accepted { .. }));
    let now = reads(&store).await;
    assert_eq!(now.0.iter().map(|e| e.0).collect::<Vec<_>>(), [1, 4, 2, 5], "one in the log, three moved");
    assert_eq!((now.2, now.3, now.4), (4, 5, 5));
}

#[tokio::test]
async fn a_move_not_yet_deleted_from_the_log_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let store = open_holding(&path).await;
    store.commit_events(vec![event(1, "ana", 0, None), event(2, "ana", 1, None)].into(), granting()).await.unwrap();
    let before = reads(&store).await;
    drop(store);
    // Moved, then the log's copies put back, as after a crash between a move and its deletion.
    let log = dir.path().join("footprint-log.db");
    let conn = rusqlite::Connection::open(&log).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS store", [path.to_string_lossy()]).unwrap();
    conn.execute(
        "INSERT INTO event_log SELECT seq, event_id, user_key, message_id, session_id, type, properties, context, ts_us,
                received_us FROM store.events",
        [],
    )
    .unwrap();
    drop(conn);
    assert_eq!(count(&log, "event_log"), 2);
    let store = open_holding(&path).await;
    assert_eq!(reads(&store).await, before, "each event once");
    let outcomes = store.commit_events(vec![event(3, "ana", 2, None)].into(), granting()).await.unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { .. }));
    assert_eq!(store.max_event_seq().await.unwrap(), 3, "seqs go on after the moved ones");
}

#[tokio::test]
async fn erasure_anonymisation_and_retention_reach_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let store = open_holding(&path).await;
    store.commit_events(vec![event(1, "ana", 0, None), event(2, "bob", 0, None)].into(), granting()).await.unwrap();
    drop(store);
    let store = open_holding(&path).await;
    // One event of each user moved, one still in the log.
    store.commit_events(vec![event(3, "ana", 1, None), event(4, "bob", 1, None)].into(), granting()).await.unwrap();

    let erased = store
        .erase_user(Erasure {
            user_id: "ana".to_owned(),
            user_key: "key-ana".to_owned(),
            tombstone: "tomb-ana".to_owned(),
            scrub: vec!["ana".to_owned()],
            replacement: "erased-user".to_owned(),
            now_us: 9,
        })
        .await
        .unwrap();
    assert_eq!(erased.events, 2, "the moved event and the logged one");
    assert!(store.events(query("ana")).await.unwrap().is_empty());
    assert_eq!(store.erased_among(&["tomb-ana".to_owned(), "x".to_owned()]).await.unwrap(), ["tomb-ana"]);

    let anonymised = store
        .anonymize_user(Anonymization {
            user_id: "bob".to_owned(),
            user_key: "key-bob".to_owned(),
            new_user_id: "anon-1".to_owned(),
            new_user_key: "key-anon-1".to_owned(),
            scrub: vec!["bob".to_owned()],
            now_us: 10,
        })
        .await
        .unwrap();
    assert_eq!(anonymised.events, 2);
    assert_eq!(store.events(query("anon-1")).await.unwrap().len(), 2, "both kept under the new key");

    let expired = store
        .expire_events(EventExpiry {
            types: TypeSelector::AllExcept(Vec::new()),
            before_us: T0 + 2 * MINUTE,
            up_to_seq: 100,
            aggregates: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(expired, 2, "the moved one and the logged one");
    drop(store);
    let rows = every_row(&StoreLocation::Sqlite(path)).await.unwrap();
    assert!(!rows.iter().any(|(_, row)| row.contains("key-ana") || row.contains("key-bob")), "no trace left");
}

#[tokio::test]
async fn a_commit_moves_the_log_itself_when_too_many_events_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let log = dir.path().join("footprint-log.db");
    let options =
        SqliteOptions { log_move_every: Duration::from_secs(3600), log_waiting_max: 3, ..SqliteOptions::default() };
    let store = open(&StoreLocation::Sqlite(path.clone()), &options, &PostgresOptions::default()).await.unwrap();
    let four: Vec<NewEvent> = (1..=4).map(|n| event(n, "ana", i64::from(n), None)).collect();
    store.commit_events(four.into(), granting()).await.unwrap();
    assert_eq!((count(&path, "events"), count(&log, "event_log")), (0, 4), "three may wait; the fourth is past it");
    store.commit_events(vec![event(5, "ana", 5, None)].into(), granting()).await.unwrap();
    assert_eq!((count(&path, "events"), count(&log, "event_log")), (4, 1), "moved before the next commit");
    assert_eq!(store.events(query("ana")).await.unwrap().len(), 5);
}
