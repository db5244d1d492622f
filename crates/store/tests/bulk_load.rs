//! SQLite's bulk load (`footprint import` into a new store): events are judged like commits,
//! sessions follow the gap rule in time order whatever order the batches came in, a
//! `message_id` repeated across batches is kept once, the indexes come back as the migrations
//! made them, and a load dropped unfinished leaves the store as it was.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use footprint_analytics::Consent;
use footprint_store::*;

mod common;
use common::{MINUTE, T0, event, granting};

async fn open_store(path: &Path) -> Arc<dyn Store> {
    open(&StoreLocation::Sqlite(path.to_owned()), &SqliteOptions::default(), &PostgresOptions::default()).await.unwrap()
}

/// Bounds what waits on the load's thread: a test must fail, not hang.
async fn within<T>(work: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), work).await.expect("the bulk load answered within 60 s")
}

/// The SQL of the indexes of `events`, as the file beside the store says.
fn indexes(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'events' AND sql IS NOT NULL ORDER BY name")
        .unwrap();
    statement.query_map([], |row| row.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

fn stored(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT count(*) FROM events", [], |row| row.get(0)).unwrap()
}

async fn sessions_of(store: &Arc<dyn Store>, user: &str) -> Vec<(i64, String)> {
    let query = EventQuery { user_key: Some(format!("key-{user}")), limit: 100, ..EventQuery::default() };
    let events = store.events(query).await.unwrap();
    let mut seen: Vec<(i64, String)> =
        events.iter().map(|e| ((e.timestamp_us - T0) / MINUTE, e.session_id.clone())).collect();
    seen.sort();
    seen
}

#[tokio::test]
async fn a_bulk_load_judges_like_commits_and_keeps_sessions_in_time_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let store = open_store(&path).await;
    let before = indexes(&path);
    assert_eq!(before.len(), 3, "{before:?}");
    let load = within(store.bulk_load(granting())).await.unwrap().expect("an empty store offers a bulk load");

    let mut refusing = event(7, "dan", 3, None);
    refusing.consent = Some(Consent { analytics: false, preferences: false, improvement: false });
    let batches = vec![
        vec![event(1, "ana", 0, Some("m-1")), event(2, "bob", 0, None), refusing],
        // Ana at 40 minutes: more than the 30-minute gap after her event at 0.
        vec![event(3, "ana", 40, Some("m-3")), event(4, "ana", 40, Some("m-3"))],
        // Ana at 20 minutes, out of order: 0, 20 and 40 are one visit. m-1 again: a duplicate
        // found only when the indexes are built.
        vec![event(5, "ana", 20, Some("m-5")), event(6, "ana", 0, Some("m-1")), event(8, "dan", 4, None)],
    ];
    let mut outcomes = Vec::new();
    for batch in batches {
        outcomes.extend(within(load.add(batch)).await.unwrap().unwrap());
    }
    let statuses: Vec<&str> = outcomes
        .iter()
        .map(|outcome| match outcome {
            EventOutcome::Accepted { .. } => "accepted",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::NotCollected => "not_collected",
        })
        .collect();
    assert_eq!(
        statuses,
        ["accepted", "accepted", "not_collected", "accepted", "duplicate", "accepted", "accepted", "not_collected"],
        "a duplicate within a batch is found at once; dan withdrew his consent"
    );
    assert_eq!(stored(&path), 0, "nothing is visible before the load is finished");
    let loaded = within(load.finish()).await.unwrap().unwrap();
    assert_eq!(loaded.late_duplicates, 1, "m-1 sent again in the third batch");

    assert_eq!(indexes(&path), before, "the indexes are the migrations' again");
    assert_eq!(stored(&path), 4, "ana three times, bob once");
    let first = "01EVENT0000000000000000001".to_owned();
    assert_eq!(sessions_of(&store, "ana").await, [(0, first.clone()), (20, first.clone()), (40, first)]);
    assert_eq!(sessions_of(&store, "bob").await, [(0, "01EVENT0000000000000000002".to_owned())]);
    assert!(sessions_of(&store, "dan").await.is_empty(), "no analytics consent: nothing stored");
    let history = store.consent_history("dan").await.unwrap();
    assert_eq!(history.len(), 1, "the withdrawal carried by dan's event is recorded: {history:?}");

    // Commits go on after the load, past its seqs, and see its events.
    assert_eq!(store.max_event_seq().await.unwrap(), 4);
    let again = store
        .commit_events(vec![event(9, "ana", 50, Some("m-9")), event(10, "ana", 60, Some("m-1"))].into(), granting())
        .await
        .unwrap();
    assert!(
        matches!(&again[0], EventOutcome::Accepted { session_id, .. } if session_id == "01EVENT0000000000000000001")
    );
    assert_eq!(again[1], EventOutcome::Duplicate, "the load's message ids are known to commits");
    assert_eq!(store.max_event_seq().await.unwrap(), 6, "seq 5, the removed duplicate's, is never used again");
    assert!(within(store.bulk_load(granting())).await.unwrap().is_none(), "the store holds events now");
}

#[tokio::test]
async fn a_bulk_load_dropped_unfinished_leaves_the_store_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("footprint.db");
    let store = open_store(&path).await;
    let before = indexes(&path);
    let load = within(store.bulk_load(granting())).await.unwrap().unwrap();
    within(load.add(vec![event(1, "ana", 0, Some("m-1")), event(2, "bob", 1, None)])).await.unwrap().unwrap();
    drop(load);

    // The load's thread lets go of the writers: a commit goes through.
    let outcomes = within(store.commit_events(vec![event(3, "carl", 2, None)].into(), granting())).await.unwrap();
    assert!(matches!(outcomes[0], EventOutcome::Accepted { .. }));
    assert_eq!(indexes(&path), before);
    let users = store.events(EventQuery { limit: 100, ..EventQuery::default() }).await.unwrap();
    let users: Vec<&str> = users.iter().map(|e| e.user_key.as_str()).collect();
    assert_eq!(users, ["key-carl"], "nothing of the dropped load was kept");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let people: i64 =
        conn.query_row("SELECT count(*) FROM users WHERE user_id IN ('ana', 'bob')", [], |row| row.get(0)).unwrap();
    assert_eq!(people, 0, "nor its users");
}
