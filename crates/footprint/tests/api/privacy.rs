//! The user's rights over HTTP: export returns everything a fixture put in, erasure leaves no
//! trace of the id or its pseudonym in any table of either store, anonymisation keeps the
//! events without the identity; and the in-process library face (seed 001's integration).

use std::time::Duration;

use footprint::config::Secret;
use footprint::tracking::{EventCollector, MatchDecisionEvent, MatchProposedEvent, PrivacyManager, Purpose};
use footprint_analytics::{Consent, Role};
use footprint_store::{StoreLocation, every_row};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code};

const GONE: &str = "erase-me-9090";
const KEPT: &str = "keeper-3131";

fn location(app: &TestApp) -> StoreLocation {
    let config = &app.state.config.store;
    StoreLocation::resolve(config.database_url.as_ref().map(Secret::expose), &config.data_dir).unwrap()
}

async fn rows_with(app: &TestApp, needle: &str) -> Vec<(String, String)> {
    every_row(&location(app)).await.unwrap().into_iter().filter(|(_, row)| row.contains(needle)).collect()
}

/// The files of the data directory (the databases, their WALs and shared-memory files, and
/// anything else) whose raw bytes hold one of `needles`, with how often.
fn files_with(app: &TestApp, needles: &[&str]) -> Vec<(String, String, usize)> {
    let mut found = Vec::new();
    let mut directories = vec![app.data_dir.path().to_owned()];
    while let Some(directory) = directories.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                directories.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for needle in needles {
                let times = bytes.windows(needle.len()).filter(|window| *window == needle.as_bytes()).count();
                if times > 0 {
                    found.push((path.display().to_string(), (*needle).to_owned(), times));
                }
            }
        }
    }
    found
}

/// An account with e-mail and profile, consents, tracked and match events, derived rows and
/// audit entries; and the same, smaller, for another user.
async fn fixture(app: &TestApp) -> String {
    let created = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"user_id": GONE, "username": GONE, "password": PASSWORD, "email": format!("{GONE}@example.com"),
                    "profile": {"display_name": "Eve", "language": "fr"}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    app.user_with_role(KEPT, Role::User).await;
    let token = app.login_ok(GONE, PASSWORD).await;
    for user in [GONE, KEPT] {
        app.grant_consent(user).await;
    }
    let events = [
        json!({"user_id": GONE, "type": "page_view", "message_id": "m-1", "properties": {"page": "/a"}}),
        json!({"user_id": GONE, "type": "click", "properties": {"element_id": "b"}, "context": {"ip": "10.1.2.3"}}),
        json!({"user_id": KEPT, "type": "page_view"}),
    ];
    for event in &events {
        assert!(app.track(&app.admin_token, event).await.status().is_success());
    }
    let match_event = app
        .client
        .post(app.url("/api/tracking/event/match-proposed"))
        .query(&[("user_id", GONE), ("match_id", "m9"), ("match_score", "0.7"), ("alternatives_count", "2")])
        .bearer_auth(&token)
        .json(&json!({"constraint_satisfaction": {"skills": 0.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(match_event.status(), StatusCode::OK);
    // A new version of the declared profile.
    let put = app
        .client
        .put(app.url(&format!("/api/profile/{GONE}")))
        .bearer_auth(&token)
        .json(&json!({"profile": {"display_name": "Eve B.", "language": "fr"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), StatusCode::OK);
    // Attendance at an organiser's class.
    let class = json!({"id": "class-1", "name": "Yoga", "type": "class", "start": "2026-03-03T18:00:00Z", "duration_minutes": 60});
    assert_eq!(
        app.post_json("/api/v1/attendance/events", Some(&app.admin_token), &class).await.status(),
        StatusCode::CREATED
    );
    let registration = json!({"user_id": GONE, "registered_at": "2026-03-01T08:00:00Z"});
    let registered =
        app.post_json("/api/v1/attendance/events/class-1/registrations", Some(&app.admin_token), &registration).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    app.state.processor.catch_up(Duration::from_secs(10)).await.unwrap();
    token
}

async fn export_then_erase(postgres: bool) {
    let app = if postgres { TestApp::spawn_postgres_with(|_| {}).await } else { TestApp::spawn().await };
    let token = fixture(&app).await;
    let pseudonym = app.state.keys.pseudonymizer.user_key(GONE);
    assert!(!rows_with(&app, GONE).await.is_empty() && !rows_with(&app, &pseudonym).await.is_empty());

    // Export: everything the fixture put in, for the user themself.
    let response = app.get(&format!("/api/v1/users/{GONE}/export"), Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let export = body(response).await;
    assert_eq!(export["user_id"], GONE);
    assert_eq!(export["account"]["email"], format!("{GONE}@example.com"));
    assert_eq!(export["account"]["profile"], json!({"display_name": "Eve B.", "language": "fr"}));
    assert!(export["account"].get("password_hash").is_none() && !export.to_string().contains("argon2"));
    assert_eq!(export["consent"]["history"].as_array().unwrap().len(), 1);
    let types: Vec<&str> = export["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["page_view", "click", "match_proposed"]);
    assert_eq!(export["events"][0]["message_id"], "m-1");
    assert_eq!(export["events"][1]["context"]["ip"], "10.1.2.0", "stored truncated");
    assert_eq!(export["events"][2]["properties"]["constraint_satisfaction"]["skills"], json!(0.5));
    assert_eq!(export["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(export["next_action_state"]["actions_counted"], 3);
    // Every kind of row erasure removes is in the export too.
    assert_eq!(export["profile_versions"][0]["profile"], json!({"display_name": "Eve B.", "language": "fr"}));
    assert_eq!(export["profile_versions"][0]["changed_by"], GONE);
    assert_eq!(export["behavioural_profile"]["events"], 3, "{}", export["behavioural_profile"]);
    let attendance = export["attendance_registrations"].as_array().unwrap();
    assert_eq!((attendance.len(), attendance[0]["event_id"].as_str()), (1, Some("class-1")));
    let others = app.get(&format!("/api/v1/users/{KEPT}/export"), Some(&token)).await;
    assert_eq!(error_code(others, StatusCode::FORBIDDEN).await, "FORBIDDEN");

    // Erasure, by the user themself.
    let response =
        app.client.delete(app.url(&format!("/api/v1/users/{GONE}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let erased = body(response).await;
    assert_eq!(erased["status"], "success");
    assert_eq!(erased["removed"]["account"], true);
    assert_eq!(erased["removed"]["events"], 3);
    assert_eq!(erased["removed"]["consents"], 1);
    assert!(erased["removed"]["derived_rows"].as_u64().unwrap() >= 2, "{erased}");
    let id_left = rows_with(&app, GONE).await;
    assert!(id_left.is_empty(), "the id is still stored: {id_left:?}");
    let pseudonym_left = rows_with(&app, &pseudonym).await;
    assert!(pseudonym_left.is_empty(), "the pseudonym is still stored: {pseudonym_left:?}");
    assert!(!rows_with(&app, KEPT).await.is_empty(), "the other user stays");
    assert_eq!(app.events_of(KEPT).await.len(), 1);
    let audit = app.state.store.audit_log(5).await.unwrap();
    assert_eq!(audit[0].action, "privacy.erasure");
    assert!(!format!("{audit:?}").contains(GONE));
    if !postgres {
        // Not even in the files' free pages or their write-ahead logs.
        let email = format!("{GONE}@example.com");
        let bytes_left = files_with(&app, &[GONE, &pseudonym, &email]);
        assert!(bytes_left.is_empty(), "the user's bytes are still in the data directory: {bytes_left:?}");
        assert!(!files_with(&app, &[KEPT]).is_empty(), "the scan finds what is there");
    }

    // The token of an erased account no longer reaches anything of theirs; events for the id are refused…
    let again = app
        .client
        .delete(app.url(&format!("/api/v1/users/{GONE}")))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(again, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let refused = body(app.track(&app.admin_token, &json!({"user_id": GONE, "type": "click"})).await).await;
    assert_eq!(refused["status"], "not_collected", "{refused}");
    assert!(rows_with(&app, GONE).await.is_empty());
    // …until consent is given again.
    app.grant_consent(GONE).await;
    let accepted = body(app.track(&app.admin_token, &json!({"user_id": GONE, "type": "click"})).await).await;
    assert_eq!(accepted["status"], "accepted", "{accepted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_returns_everything_and_erasure_leaves_no_trace_on_sqlite() {
    export_then_erase(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_returns_everything_and_erasure_leaves_no_trace_on_postgres() {
    export_then_erase(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymisation_keeps_the_events_without_the_identity() {
    let app = TestApp::spawn().await;
    fixture(&app).await;
    let pseudonym = app.state.keys.pseudonymizer.user_key(GONE);
    let usage_before = body(app.get("/stats/usage", Some(&app.admin_token)).await).await;
    let response = app.post_json(&format!("/api/v1/users/{GONE}/anonymize"), Some(&app.admin_token), &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!(report["events_kept"], 3);
    let anonymous = report["anonymous_id"].as_str().unwrap();
    assert!(anonymous.starts_with("anonymous-"));
    assert!(rows_with(&app, GONE).await.is_empty() && rows_with(&app, &pseudonym).await.is_empty());
    let bytes_left = files_with(&app, &[GONE, &pseudonym]);
    assert!(bytes_left.is_empty(), "the identity is still in the data directory: {bytes_left:?}");
    assert_eq!(app.events_of(anonymous).await.len(), 3);
    let usage_after = body(app.get("/stats/usage", Some(&app.admin_token)).await).await;
    assert_eq!(usage_after["total_interactions"], usage_before["total_interactions"], "aggregates keep the events");
    let missing = app.post_json("/api/v1/users/nobody-here/anonymize", Some(&app.admin_token), &json!({})).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_face_works_in_process() {
    let app = TestApp::spawn().await;
    let privacy_manager = PrivacyManager::new(app.state.clone());
    let event_collector = EventCollector::new(privacy_manager.clone());
    let proposal = MatchProposedEvent {
        user_id: "user123".into(),
        match_id: "match456".into(),
        match_score: 0.85,
        alternatives_count: 5,
        constraint_satisfaction: [("location".to_owned(), 0.9), ("skills".to_owned(), 0.8)].into(),
        ..MatchProposedEvent::default()
    };
    // No consent yet: nothing collected.
    assert_eq!(event_collector.collect_event(&proposal).await.unwrap(), None);
    assert!(!privacy_manager.has_consent("user123", Purpose::Analytics).await.unwrap());
    let consent = Consent { analytics: true, preferences: false, improvement: true };
    privacy_manager.record_consent("user123", consent).await.unwrap();
    assert!(privacy_manager.has_consent("user123", Purpose::Improvement).await.unwrap());
    let event_id = event_collector.collect_event(&proposal).await.unwrap();
    assert!(event_id.is_some());
    let decision = MatchDecisionEvent {
        user_id: "user123".into(),
        match_id: "match456".into(),
        decision: true,
        decision_time_seconds: Some(30.5),
        reasons: vec!["Compétences pertinentes".into()],
        ..MatchDecisionEvent::default()
    };
    event_collector.collect_event(&decision).await.unwrap().unwrap();
    let bad = MatchDecisionEvent { match_id: String::new(), ..decision };
    assert!(event_collector.collect_event(&bad).await.is_err());

    assert_eq!(privacy_manager.anonymize_ip("192.168.1.77").as_deref(), Some("192.168.1.0"));
    assert_eq!(privacy_manager.pseudonymize("user123"), app.state.keys.pseudonymizer.user_key("user123"));
    let export = privacy_manager.export_user_data("user123").await.unwrap();
    assert_eq!(export["events"].as_array().unwrap().len(), 2);
    let erased = privacy_manager.erase_user("user123").await.unwrap();
    assert_eq!(erased.removed.events, 2);
    assert_eq!(privacy_manager.cleanup_expired_data().await.unwrap().removed_events, 0);
    let metrics: Value = body(app.get("/api/metrics/acceptance?days=1", Some(&app.admin_token)).await).await;
    assert_eq!(metrics["proposed"], 0, "erased events are not counted");
}

/// The values stored in Redis under `prefix` that hold `needle`.
async fn redis_values_with(prefix: &str, needle: &str) -> Vec<String> {
    let client = redis::Client::open(REDIS).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut connection).await.unwrap();
    let mut found = Vec::new();
    for key in keys {
        let value: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut connection).await.unwrap();
        if value.is_some_and(|value| value.contains(needle)) {
            found.push(key);
        }
    }
    found
}

const REDIS: &str = "redis://127.0.0.1:6379";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_leaves_nothing_of_the_user_in_the_redis_cache() {
    let prefix = format!("footprint-test-{}:", ulid::Ulid::new());
    let app = TestApp::spawn_with(|config| {
        config.store.redis_url = Some(Secret::new(REDIS));
        config.cache.redis_prefix = prefix.clone();
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    })
    .await;
    let key = app.ingest_key().await;
    for user in [GONE, KEPT] {
        assert!(app.track(&key, &json!({"user_id": user, "type": "click"})).await.status().is_success());
    }
    let stats = app.get("/stats/interactions", Some(&app.admin_token)).await;
    assert!(body(stats).await.to_string().contains(GONE), "the statistics name the user");
    // A write moves the cache to a new generation; the entry naming the user stays behind it.
    assert!(app.track(&key, &json!({"user_id": KEPT, "type": "view"})).await.status().is_success());
    assert_eq!(app.get("/stats/interactions", Some(&app.admin_token)).await.status(), StatusCode::OK);
    assert!(redis_values_with(&prefix, GONE).await.len() >= 2, "two generations name the user");

    let erased =
        app.client.delete(app.url(&format!("/api/v1/users/{GONE}"))).bearer_auth(&app.admin_token).send().await;
    assert_eq!(erased.unwrap().status(), StatusCode::OK);
    let left = redis_values_with(&prefix, GONE).await;
    assert!(left.is_empty(), "cache entries still name the erased user: {left:?}");
    let stats = body(app.get("/stats/interactions", Some(&app.admin_token)).await).await;
    assert!(!stats.to_string().contains(GONE) && stats.to_string().contains(KEPT), "{stats}");
}
