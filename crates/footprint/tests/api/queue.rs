//! A full ingestion queue answers 503 with Retry-After at once, and drops nothing.

use std::time::Duration;

use footprint_analytics::ConsentDefault;
use reqwest::StatusCode;

use crate::helpers::{TestApp, body, error_code, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_with_retry_after() {
    let app = TestApp::spawn_with(|config| {
        config.privacy.consent_default = ConsentDefault::Grant;
        config.ingest.queue_capacity = 1;
        config.ingest.batch_max_events = 1;
        config.ingest.retry_after_secs = Duration::from_secs(2);
    })
    .await;
    // Another connection holds SQLite's write lock, so the writer cannot commit the first event.
    let blocker = rusqlite::Connection::open(app.data_dir.path().join("footprint.db")).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let first = {
        let (client, url, token) = (app.client.clone(), app.url("/api/track"), app.admin_token.clone());
        tokio::spawn(
            async move { client.post(url).bearer_auth(token).json(&event("u", "first")).send().await.unwrap() },
        )
    };
    for _ in 0..200 {
        if app.state.ingest.queued_events() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(app.state.ingest.queued_events(), 1, "the first event waits for the lock");

    let refused = app.track(&app.admin_token, &event("u", "second")).await;
    assert_eq!(refused.headers()["retry-after"], "2");
    assert_eq!(error_code(refused, StatusCode::SERVICE_UNAVAILABLE).await, "SERVICE_UNAVAILABLE");

    blocker.execute_batch("ROLLBACK").unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(body(first).await["status"], "accepted");
    let stored: Vec<String> = app.events_of("u").await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(stored, vec!["first"], "the refused event was not stored, the queued one was");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_commits_what_was_acknowledged() {
    let app = TestApp::spawn_with(|config| config.privacy.consent_default = ConsentDefault::Grant).await;
    let result = body(app.track(&app.admin_token, &event("u", "last-words")).await).await;
    assert_eq!(result["status"], "accepted");
    let store = std::sync::Arc::clone(&app.state.store);
    let user_key = app.state.keys.pseudonymizer.user_key("u");
    app.stop().await;
    let query = footprint_store::EventQuery { user_key: Some(user_key), limit: 10, ..Default::default() };
    assert_eq!(store.events(query).await.unwrap().len(), 1);
}
