//! The scheduled watch of `churn.risk_crossed` and `anomaly.detected`, on a history with planted
//! churn (half the users stop) and one user's day of scripted traffic: the spike is announced
//! once, and listed by `GET /api/v1/insights/anomalies`; a webhook's first look at churn only
//! notes where users stand; when 25 days pass without
//! activity, every staying user's risk crosses the threshold and is announced once, except for
//! the user who withdrew analytics consent; a further watch announces nothing again. While
//! processing is behind the stored events, the watch looks at nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use footprint::kernel::clock::{Clock, OffsetClock, SystemClock, parse_rfc3339, rfc3339, to_us};
use footprint_analytics::time::day_index;
use footprint_store::DeliveriesOf;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body};
use crate::insights::{planted_history, wait_until_ready};
use crate::webhooks::{listener, quick, receive};

const DAY_US: i64 = 86_400_000_000;
const THRESHOLD: f64 = 0.5;

/// A webhook's deliveries, read from the store (the admin's token expires when the clock jumps).
async fn delivered(app: &TestApp, id: &str) -> Vec<Value> {
    let all = app.state.store.deliveries(DeliveriesOf::Webhook(id.to_owned()), 1_000).await.unwrap();
    all.into_iter()
        .filter(|delivery| delivery.status == "delivered")
        .map(|delivery| serde_json::from_str(&delivery.payload).unwrap())
        .collect()
}

/// Polls until `done` holds for what the webhook delivered (at most 30 s).
async fn delivered_when(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..300 {
        last = delivered(app, id).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deliveries never got there: {last:?}");
}

async fn create(app: &TestApp, hook: Value) -> String {
    let response = app.post_json("/api/v1/webhooks", Some(&app.admin_token), &hook).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body(response).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_crossings_and_activity_spikes_are_announced_once() {
    let clock = Arc::new(OffsetClock::starting_at(SystemClock.now_us()));
    let app = TestApp::spawn_with_clock_and(clock.clone(), |config| {
        quick(config);
        config.webhooks.watch_interval_secs = Duration::from_secs(1);
    })
    .await;
    let now_us = clock.now_us();
    let mut events = planted_history(now_us);
    // stay-004's day of scripted traffic, yesterday.
    for k in 0..60 {
        events.push(json!({
            "user_id": "stay-004", "type": "page_view", "properties": {"page": "/shop"},
            "timestamp": rfc3339(now_us - DAY_US + k * 1_000_000), "message_id": format!("script-{k}"),
            "context": {"consent": {"analytics": true, "preferences": true, "improvement": true}},
        }));
    }
    let key = app.ingest_key().await;
    for chunk in events.chunks(5_000) {
        assert!(app.track_batch(&key, chunk).await.status().is_success());
    }
    app.state.processor.catch_up(Duration::from_secs(30)).await.expect("processed");
    let started = app.post_json("/api/v1/insights/churn/train", Some(&app.admin_token), &json!({})).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    wait_until_ready(&app, body(started).await["model_id"].as_str().unwrap()).await;

    let (socket, address) = listener().await;
    let received = receive(socket, 0);
    let url = format!("http://{address}/hooks");
    let churn = create(&app, json!({"url": url, "kinds": ["churn.risk_crossed"], "churn_threshold": THRESHOLD})).await;
    let anomalies = create(&app, json!({"url": url, "kinds": ["anomaly.detected"]})).await;

    // The spike, announced by the scheduled watch.
    let found = delivered_when(&app, &anomalies, |all| !all.is_empty()).await;
    assert_eq!(found.len(), 1, "one unusual day: {found:?}");
    let spike = &found[0];
    assert_eq!(spike["kind"], json!("anomaly.detected"));
    let data = &spike["data"];
    assert_eq!((data["type"].as_str(), data["user_id"].as_str()), (Some("activity_spike"), Some("stay-004")), "{data}");
    assert_eq!(data["first_day"], json!(rfc3339(now_us - DAY_US)[..10]));
    assert!(data["events"].as_u64().unwrap() >= 60, "{data}");
    assert!(data["p_value"].as_f64().unwrap() < data["expected_false_positive_rate"].as_f64().unwrap(), "{data}");
    assert!(received.all().iter().any(|(_, text, _)| text.contains("activity_spike")), "posted to the receiver");
    // The same, listed for staff: yesterday by default; every user has 28 days before it.
    let listed = app.get("/api/v1/insights/anomalies", Some(&app.admin_token)).await;
    assert_eq!(listed.status(), StatusCode::OK);
    let listed = body(listed).await;
    assert_eq!(listed["day"], json!(rfc3339(now_us - DAY_US)[..10]));
    // Judged: the users with a day in the 42 looked back on (all first seen 59 days ago, so
    // each has a full baseline): the stayers, and the leavers not gone for longer.
    let looked_from = day_index(now_us) - 1 - 42;
    let judged: HashSet<&str> = events
        .iter()
        .filter(|event| day_index(to_us(parse_rfc3339(event["timestamp"].as_str().unwrap()).unwrap())) >= looked_from)
        .map(|event| event["user_id"].as_str().unwrap())
        .collect();
    assert!(judged.len() > 50, "the stayers and some leavers: {}", judged.len());
    assert_eq!(listed["users_judged"], json!(judged.len()), "{listed}");
    assert_eq!(listed["anomalies"].as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed["anomalies"][0], *data, "the webhook sends what the route lists");
    let today = rfc3339(now_us)[..10].to_owned();
    for day in [today.as_str(), "yesterday"] {
        let refused = app.get(&format!("/api/v1/insights/anomalies?day={day}"), Some(&app.admin_token)).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{day}");
    }

    // The churn webhook's first look notes where everyone stands, and says nothing.
    for _ in 0..300 {
        if app.state.store.webhook_marks(&churn).await.unwrap().contains_key("churn:looked") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let marks = app.state.store.webhook_marks(&churn).await.unwrap();
    assert!(marks.contains_key("churn:looked"), "{marks:?}");
    assert_eq!(marks.values().filter(|side| *side == "below").count(), 50, "every stayer, below: {marks:?}");
    assert!(app.state.store.deliveries(DeliveriesOf::Webhook(churn.clone()), 10).await.unwrap().is_empty());

    // stay-002 withdraws analytics consent; then 25 days pass without anyone's activity.
    let withdrawn = app
        .post_query(
            "/api/tracking/consent",
            Some(&app.admin_token),
            &[("user_id", "stay-002"), ("analytics", "false"), ("preferences", "true"), ("improvement", "true")],
        )
        .await;
    assert_eq!(withdrawn.status(), StatusCode::OK);
    clock.advance(Duration::from_secs(25 * 86_400));
    let crossed = delivered_when(&app, &churn, |all| all.len() >= 49).await;
    let mut users: Vec<&str> = crossed.iter().map(|d| d["data"]["user_id"].as_str().unwrap()).collect();
    users.sort_unstable();
    let expected: Vec<String> = (0..100).step_by(2).filter(|n| *n != 2).map(|n| format!("stay-{n:03}")).collect();
    assert_eq!(users, expected, "every stayer but the one without consent");
    for delivery in &crossed {
        let data = &delivery["data"];
        assert_eq!(delivery["kind"], json!("churn.risk_crossed"));
        assert_eq!((data["direction"].as_str(), data["previous_side"].as_str()), (Some("up"), Some("below")));
        assert!(data["probability"].as_f64().unwrap() >= THRESHOLD, "{data}");
        assert_eq!(data["threshold"], json!(THRESHOLD));
    }
    let marks = app.state.store.webhook_marks(&churn).await.unwrap();
    assert_eq!(marks.values().filter(|side| *side == "above").count(), 50, "stay-002's side is noted: {marks:?}");

    // Another watch (the scheduler's or this one) announces nothing again.
    let again = footprint::webhooks::watch::watch(&app.state).await.unwrap();
    assert_eq!((again.churn_crossings, again.anomalies, again.behind), (0, 0, 0));
    let all = app.state.store.deliveries(DeliveriesOf::Webhook(churn.clone()), 1_000).await.unwrap();
    assert_eq!(all.len(), 49);
    assert!(all.iter().all(|d| d.user_id.as_deref() != Some("stay-002")));
    assert_eq!(app.state.store.deliveries(DeliveriesOf::Webhook(anomalies), 1_000).await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watch_waits_while_processing_is_behind() {
    let app = TestApp::spawn_with(|config| {
        quick(config);
        config.webhooks.watch_interval_secs = Duration::ZERO;
        // Processing runs only when asked, one event at a time, and a catch-up gives up at once.
        config.processing.batch_events = 1;
        config.processing.catch_up_timeout_ms = Duration::ZERO;
        config.processing.interval_ms = Duration::from_secs(3_600);
        config.processing.debounce_ms = Duration::from_secs(3_600);
    })
    .await;
    let key = app.ingest_key().await;
    let events: Vec<Value> = (0..5)
        .map(|n| json!({"user_id": format!("u{n}"), "type": "page_view", "message_id": format!("w{n}")}))
        .collect();
    assert!(app.track_batch(&key, &events).await.status().is_success());
    create(&app, json!({"url": "http://127.0.0.1:9/hooks", "kinds": ["anomaly.detected", "churn.risk_crossed"]})).await;

    let waited = footprint::webhooks::watch::watch(&app.state).await.unwrap();
    assert!(waited.behind > 0, "{waited:?}");
    assert_eq!((waited.churn_crossings, waited.anomalies), (0, 0));
    app.state.processor.catch_up(Duration::from_secs(30)).await.unwrap();
    let looked = footprint::webhooks::watch::watch(&app.state).await.unwrap();
    assert_eq!(looked.behind, 0, "{looked:?}");
    app.stop().await;
}
