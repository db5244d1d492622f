//! Reads do not wait on a backlog: past `processing.read_catch_up_events` unprocessed events, a
//! read answers at once from what is processed and says how many events it did not see
//! (`Footprint-Processing-Lag`), while a next-action prediction still follows what the user
//! just did, and the events route shows every acknowledged event.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{TestApp, body};

async fn lagging_app(postgres: bool) -> TestApp {
    let configure = |config: &mut footprint::Config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
        config.processing.read_catch_up_events = 5;
        // Nothing processes in the background during the test: only reads would.
        config.processing.debounce_ms = Duration::from_secs(600);
        config.processing.interval_ms = Duration::from_secs(600);
        config.processing.segmentation_growth = 0.0;
    };
    if postgres { TestApp::spawn_postgres_with(configure).await } else { TestApp::spawn_with(configure).await }
}

fn lag(response: &reqwest::Response) -> Option<u64> {
    response.headers().get("footprint-processing-lag")?.to_str().ok()?.parse().ok()
}

async fn reads_past_a_backlog(postgres: bool) {
    let app = lagging_app(postgres).await;
    let token = app.admin_token.clone();
    let at = |minute: u32| format!("2026-12-01T10:{minute:02}:00Z");
    let first = [
        json!({"user_id": "reader", "type": "view", "timestamp": at(0)}),
        json!({"user_id": "reader", "type": "cart", "timestamp": at(1)}),
        json!({"user_id": "reader", "type": "view", "timestamp": at(2)}),
    ];
    assert_eq!(body(app.track_batch(&token, &first).await).await["accepted"], 3);

    // A small backlog: the read catches up first and sees everything.
    let predicted = app.get("/predict_next_action/reader", Some(&token)).await;
    assert_eq!(lag(&predicted), Some(0));
    let predicted = body(predicted).await;
    assert_eq!((&predicted["last_action"], &predicted["predicted_next_action"]), (&json!("view"), &json!("cart")));

    // Past the threshold: the read answers at once, and says what it did not see.
    let mut more: Vec<_> =
        (0..10).map(|n| json!({"user_id": format!("other-{n}"), "type": "view", "timestamp": at(3)})).collect();
    more.push(json!({"user_id": "reader", "type": "cart", "timestamp": at(4)}));
    assert_eq!(body(app.track_batch(&token, &more).await).await["accepted"], 11);
    let usage = app.get("/stats/usage", Some(&token)).await;
    assert_eq!(lag(&usage), Some(11), "the eleven new events are not processed yet");
    let profile = app.get("/api/profile/reader", Some(&token)).await;
    assert_eq!(lag(&profile), Some(11));

    // The user's own new event is folded by the prediction itself: read-your-writes.
    let predicted = app.get("/predict_next_action/reader", Some(&token)).await;
    assert_eq!(lag(&predicted), Some(11));
    let predicted = body(predicted).await;
    assert_eq!(predicted["last_action"], "cart", "the prediction follows the user's last event: {predicted}");
    assert_eq!(predicted["predicted_next_action"], "view", "{predicted}");
    let next = body(app.get("/api/v1/users/reader/next-actions?k=3", Some(&token)).await).await;
    assert_eq!(next["history_length"], 4, "{next}");
    let events = app.events_of("reader").await;
    assert_eq!(
        events.iter().map(|e| e["type"].as_str().unwrap()).collect::<Vec<_>>(),
        ["view", "cart", "view", "cart"]
    );
    // Nothing was counted twice: once processed, the prediction is the same.
    app.state.processor.catch_up(Duration::from_secs(30)).await.unwrap();
    let settled = app.get("/predict_next_action/reader", Some(&token)).await;
    assert_eq!(lag(&settled), Some(0));
    assert_eq!(body(settled).await["last_action"], "cart");
    let next_after = body(app.get("/api/v1/users/reader/next-actions?k=3", Some(&token)).await).await;
    assert_eq!(next_after["history_length"], 4, "{next_after}");
    assert_eq!(lag(&app.get("/stats/usage", Some(&token)).await), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_past_a_backlog_answer_at_once_and_follow_the_users_own_events_on_sqlite() {
    reads_past_a_backlog(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_past_a_backlog_answer_at_once_and_follow_the_users_own_events_on_postgres() {
    reads_past_a_backlog(true).await;
}
