//! Seed 001's consent routes, and consent gating at ingestion.

use footprint_analytics::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body, error_code, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_example_records_and_reads_consent() {
    let app = TestApp::spawn().await;
    let key = app.ingest_key().await;
    // Exactly as Python's requests sends the README's params (booleans become True/False).
    let response = app
        .post_query(
            "/api/tracking/consent",
            Some(&key),
            &[("user_id", "user123"), ("analytics", "True"), ("preferences", "False"), ("improvement", "True")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let recorded = body(response).await;
    assert_eq!(recorded["status"], "success");
    assert_eq!(recorded["user_id"], "user123");
    assert_eq!(recorded["consent"], json!({"analytics": true, "preferences": false, "improvement": true}));

    let status = body(app.get("/api/tracking/consent/user123", Some(&key)).await).await;
    assert_eq!(status["user_id"], "user123");
    assert_eq!(status["consent"], json!({"analytics": true, "preferences": false, "improvement": true}));
    assert_eq!(status["is_default"], false);
    assert_eq!(status["history"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_is_kept_in_order() {
    let app = TestApp::spawn().await;
    for analytics in ["true", "false", "1"] {
        let response = app
            .post_query("/api/tracking/consent", Some(&app.admin_token), &[("user_id", "u"), ("analytics", analytics)])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let status = body(app.get("/api/tracking/consent/u", Some(&app.admin_token)).await).await;
    let history: Vec<bool> =
        status["history"].as_array().unwrap().iter().map(|c| c["consent"]["analytics"].as_bool().unwrap()).collect();
    assert_eq!(history, vec![true, false, true]);
    assert_eq!(status["consent"]["preferences"], false, "a purpose left out is not consented to");
    assert_eq!(app.state.store.consent_history("u").await.unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_record_the_instance_default_applies() {
    let deny = TestApp::spawn().await;
    let status = body(deny.get("/api/tracking/consent/fresh", Some(&deny.admin_token)).await).await;
    assert_eq!(status["consent"], json!({"analytics": false, "preferences": false, "improvement": false}));
    assert_eq!(status["is_default"], true);
    assert_eq!(status["history"], json!([]));

    let grant =
        TestApp::spawn_with(|config| config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant).await;
    let status = body(grant.get("/api/tracking/consent/fresh", Some(&grant.admin_token)).await).await;
    assert_eq!(status["consent"]["analytics"], true);
    let tracked = body(grant.track(&grant.admin_token, &event("fresh", "click")).await).await;
    assert_eq!(tracked["status"], "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_analytics_consent_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let result = body(app.track(&app.admin_token, &event("quiet", "click")).await).await;
    assert_eq!(result["status"], "not_collected");
    assert!(result["reason"].as_str().unwrap().contains("consent"));
    assert!(app.events_of("quiet").await.is_empty());
    assert!(app.state.store.user("quiet").await.unwrap().is_none(), "not even a user row");

    // Refusing after consenting stops collection again.
    app.grant_consent("quiet").await;
    assert_eq!(body(app.track(&app.admin_token, &event("quiet", "click")).await).await["status"], "accepted");
    app.post_query("/api/tracking/consent", Some(&app.admin_token), &[("user_id", "quiet"), ("analytics", "false")])
        .await;
    assert_eq!(body(app.track(&app.admin_token, &event("quiet", "click")).await).await["status"], "not_collected");
    assert_eq!(app.events_of("quiet").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consent_carried_by_an_event_is_recorded() {
    let app = TestApp::spawn().await;
    let mut consenting = event("banner", "consent_given");
    consenting["context"] = json!({"consent": {"analytics": true, "preferences": false, "improvement": false}});
    assert_eq!(body(app.track(&app.admin_token, &consenting).await).await["status"], "accepted");
    assert_eq!(body(app.track(&app.admin_token, &event("banner", "click")).await).await["status"], "accepted");
    let status = body(app.get("/api/tracking/consent/banner", Some(&app.admin_token)).await).await;
    assert_eq!(status["history"][0]["source"], "event_context");
    assert_eq!(status["consent"]["analytics"], true);
    let stored = app.events_of("banner").await;
    assert!(stored[0]["context"].get("consent").is_none(), "the consent is recorded, not kept in the event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consent_routes_check_parameters_and_who_asks() {
    let app = TestApp::spawn().await;
    let missing = app.post_query("/api/tracking/consent", Some(&app.admin_token), &[("analytics", "true")]).await;
    assert_eq!(error_code(missing, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let bad_flag = app
        .post_query("/api/tracking/consent", Some(&app.admin_token), &[("user_id", "u"), ("analytics", "maybe")])
        .await;
    assert_eq!(error_code(bad_flag, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let bad_id = app.post_query("/api/tracking/consent", Some(&app.admin_token), &[("user_id", "bad id")]).await;
    assert_eq!(error_code(bad_id, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");

    let alice = app.user_with_role("alice", Role::User).await;
    let own =
        app.post_query("/api/tracking/consent", Some(&alice), &[("user_id", "alice"), ("analytics", "true")]).await;
    assert_eq!(own.status(), StatusCode::OK);
    let others =
        app.post_query("/api/tracking/consent", Some(&alice), &[("user_id", "bob"), ("analytics", "true")]).await;
    assert_eq!(error_code(others, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert_eq!(app.get("/api/tracking/consent/bob", Some(&alice)).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.get("/api/tracking/consent/alice", Some(&alice)).await.status(), StatusCode::OK);
}
