//! Ingestion: single events and batches, idempotency, sessions, validation and its errors, on
//! both stores.

use footprint_analytics::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code, event};

async fn duplicates_by_message_id_are_stored_once(app: &TestApp) {
    app.grant_consent("u1").await;
    let key = app.ingest_key().await;
    let mut first = event("u1", "purchase");
    first["message_id"] = json!("order-1");
    assert_eq!(body(app.track(&key, &first).await).await["status"], "accepted");
    assert_eq!(body(app.track(&key, &first).await).await, json!({"status": "duplicate"}));
    let batch = body(app.track_batch(&key, &[first.clone(), first.clone()]).await).await;
    assert_eq!((batch["duplicate"].clone(), batch["accepted"].clone()), (json!(2), json!(0)));
    let stored = app.events_of("u1").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["message_id"], "order-1");
    let user_key = app.state.keys.pseudonymizer.user_key("u1");
    assert_eq!(app.state.store.user_activity(&user_key).await.unwrap().n_events, 1);
}

async fn a_batch_reports_each_event(app: &TestApp) {
    app.grant_consent("u1").await;
    let events = vec![
        event("u1", "page_view"),
        json!({"user_id": "u1"}),
        event("silent", "page_view"),
        json!({"user_id": "u1", "type": "x", "message_id": "m"}),
        json!({"user_id": "u1", "type": "x", "message_id": "m"}),
    ];
    let response = app.track_batch(&app.admin_token, &events).await;
    assert_eq!(response.status(), StatusCode::OK);
    let result = body(response).await;
    assert_eq!(result["received"], 5);
    assert_eq!((result["accepted"].clone(), result["rejected"].clone()), (json!(2), json!(1)));
    assert_eq!((result["not_collected"].clone(), result["duplicate"].clone()), (json!(1), json!(1)));
    let statuses: Vec<&str> =
        result["results"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, vec!["accepted", "rejected", "not_collected", "accepted", "duplicate"]);
    assert_eq!(result["results"][1]["index"], 1);
    assert!(result["results"][1]["reason"].as_str().unwrap().starts_with("type: is required"));
    assert_eq!(app.events_of("u1").await.len(), 2);
}

async fn sessions_follow_thirty_minute_gaps_unless_given(app: &TestApp) {
    app.grant_consent("s").await;
    let at = |minute: u32| json!({"user_id": "s", "type": "page_view", "timestamp": format!("2026-01-05T10:{minute:02}:00Z")});
    let mut given = at(59);
    given["session_id"] = json!("app-session-7");
    let batch = body(app.track_batch(&app.admin_token, &[at(0), at(20), at(55), given]).await).await;
    let sessions: Vec<String> =
        batch["results"].as_array().unwrap().iter().map(|r| r["session_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(sessions[0], sessions[1], "20 minutes apart: same session");
    assert_ne!(sessions[1], sessions[2], "35 minutes apart: a new session");
    assert_eq!(sessions[3], "app-session-7");
    assert_eq!(
        sessions[0],
        batch["results"][0]["event_id"].as_str().unwrap(),
        "a derived session is named after its first event"
    );
    let stored = app.state.store.sessions(&app.state.keys.pseudonymizer.user_key("s")).await.unwrap();
    assert_eq!(stored.iter().map(|s| s.n_events).collect::<Vec<_>>(), vec![2, 1, 1]);
}

macro_rules! on_both_stores {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&crate::helpers::TestApp::spawn().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(&crate::helpers::TestApp::spawn_postgres_with(|_| {}).await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    duplicates_by_message_id_are_stored_once,
    a_batch_reports_each_event,
    sessions_follow_thirty_minute_gaps_unless_given
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_event_is_stored_as_sent_with_its_ip_truncated() {
    let app = TestApp::spawn().await;
    app.grant_consent("user123").await;
    let sent = json!({
        "user_id": "user123", "type": "ajout d'un produit au panier",
        "properties": {"element_id": "apply_button", "element_type": "button", "page": "/job/123", "price": 12.5},
        "timestamp": "2026-11-20T09:30:00+01:00", "message_id": "abc",
        "context": {"ip": "203.0.113.195", "user_agent": "Mozilla/5.0"}
    });
    let result = body(app.track(&app.admin_token, &sent).await).await;
    assert_eq!(result["status"], "accepted");
    let stored = app.events_of("user123").await;
    assert_eq!(stored.len(), 1);
    let event = &stored[0];
    assert_eq!(event["event_id"], result["event_id"]);
    assert_eq!(event["type"], "ajout d'un produit au panier");
    assert_eq!(event["properties"], sent["properties"]);
    assert_eq!(event["timestamp"], "2026-11-20T08:30:00Z");
    assert_eq!(event["context"], json!({"ip": "203.0.113.0", "user_agent": "Mozilla/5.0"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_tracks_anyone_and_a_user_only_themself() {
    let app =
        TestApp::spawn_with(|config| config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant).await;
    let key = app.ingest_key().await;
    assert_eq!(body(app.track(&key, &event("anyone", "click")).await).await["status"], "accepted");
    let via_header = app
        .client
        .post(app.url("/api/track"))
        .header("X-API-Key", &key)
        .json(&event("someone", "click"))
        .send()
        .await
        .unwrap();
    assert_eq!(via_header.status(), StatusCode::OK);

    let alice = app.user_with_role("alice", Role::User).await;
    assert_eq!(body(app.track(&alice, &event("alice", "click")).await).await["status"], "accepted");
    let response = app.track(&alice, &event("bob", "click")).await;
    assert_eq!(error_code(response, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let mixed = app.track_batch(&alice, &[event("alice", "a"), event("bob", "b")]).await;
    assert_eq!(error_code(mixed, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert!(app.events_of("bob").await.is_empty());
    assert_eq!(app.events_of("alice").await.len(), 1, "a refused batch stores nothing, not even the allowed events");

    let manager = app.user_with_role("mgr", Role::Manager).await;
    assert_eq!(body(app.track(&manager, &event("bob", "click")).await).await["status"], "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_4xx() {
    let app = TestApp::spawn_with(|config| {
        config.ingest.batch_max_events = 3;
        config.ingest.batch_max_bytes = 4096;
        config.server.max_body_bytes = 2048;
    })
    .await;
    let token = app.admin_token.as_str();
    let raw = |path: &str, content_type: &str, body: String| {
        app.client.post(app.url(path)).bearer_auth(token).header("content-type", content_type).body(body).send()
    };

    let malformed = raw("/api/track", "application/json", "{\"user_id\": ".to_owned()).await.unwrap();
    assert_eq!(error_code(malformed, StatusCode::BAD_REQUEST).await, "INVALID_JSON");
    let plain = raw("/api/track", "text/plain", event("u", "c").to_string()).await.unwrap();
    assert_eq!(error_code(plain, StatusCode::UNSUPPORTED_MEDIA_TYPE).await, "UNSUPPORTED_MEDIA_TYPE");
    let huge = json!({"user_id": "u", "type": "c", "properties": {"blob": "x".repeat(3000)}}).to_string();
    let too_large = raw("/api/track", "application/json", huge).await.unwrap();
    assert_eq!(error_code(too_large, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");
    let too_many = app.track_batch(token, &[event("u", "a"), event("u", "b"), event("u", "c"), event("u", "d")]).await;
    assert_eq!(error_code(too_many, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");
    let big_batch: Vec<Value> =
        (0..3).map(|_| json!({"user_id": "u", "type": "c", "properties": {"b": "y".repeat(1500)}})).collect();
    assert_eq!(app.track_batch(token, &big_batch).await.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let invalid = app.track(token, &json!({"user_id": "u", "type": "c", "timestamp": "tomorrow"})).await;
    assert_eq!(error_code(invalid, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let not_object = app.track(token, &json!(["u", "click"])).await;
    assert_eq!(error_code(not_object, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let not_batch = app.post_json("/api/track/batch", Some(token), &json!({"events": "nope"})).await;
    assert_eq!(error_code(not_batch, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let empty = app.post_json("/api/track/batch", Some(token), &json!([])).await;
    assert_eq!(error_code(empty, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");

    // Nothing of the above was stored (the accepted batch found no consent), and the server still works.
    app.grant_consent("u").await;
    assert_eq!(body(app.track(token, &event("u", "c")).await).await["status"], "accepted");
    assert_eq!(app.events_of("u").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_each_get_their_own_answers() {
    let app =
        TestApp::spawn_with(|config| config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant).await;
    let key = app.ingest_key().await;
    let mut tasks = Vec::new();
    for client in 0..16 {
        let (http, url, key) = (app.client.clone(), app.url("/api/track/batch"), key.clone());
        tasks.push(tokio::spawn(async move {
            let events: Vec<Value> = (0..25)
                .map(|n| json!({"user_id": format!("c{client}"), "type": "tick", "message_id": format!("{n}"), "properties": {"n": n}}))
                .collect();
            let response = http.post(url).bearer_auth(key).json(&json!({"batch": events})).send().await.unwrap();
            body(response).await
        }));
    }
    for (client, task) in tasks.into_iter().enumerate() {
        let result = task.await.unwrap();
        assert_eq!(result["accepted"], 25, "client {client}: {result}");
    }
    for client in 0..16 {
        let stored = app.events_of(&format!("c{client}")).await;
        let numbers: Vec<i64> = stored.iter().map(|e| e["properties"]["n"].as_i64().unwrap()).collect();
        assert_eq!(numbers.len(), 25);
        let mut sorted = numbers.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..25).collect::<Vec<_>>());
    }
}
