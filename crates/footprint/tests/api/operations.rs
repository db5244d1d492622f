//! Health, readiness, metrics, the OpenAPI document, the docs page, and errors for unknown routes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, body, error_code, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness_answer_without_credentials() {
    let app = TestApp::spawn().await;
    let health = app.get("/health", None).await;
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(body(health).await["status"], "ok");
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(body(ready).await, json!({"status": "ready", "store": "sqlite", "rate_limits": "local"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_events_by_outcome_and_time_routes() {
    let app = TestApp::spawn().await;
    app.grant_consent("u1").await;
    app.track(&app.admin_token, &event("u1", "click")).await;
    app.track(&app.admin_token, &event("nobody", "click")).await;
    app.track_batch(&app.admin_token, &[event("u1", "a"), json!({"user_id": "u1"})]).await;
    let response = app.get("/metrics", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for line in [
        "footprint_ingest_events_total{outcome=\"accepted\"} 2",
        "footprint_ingest_events_total{outcome=\"not_collected\"} 1",
        "footprint_ingest_events_total{outcome=\"rejected\"} 1",
        "footprint_ingest_queue_depth_events 0",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(text.contains("footprint_ingest_commit_batch_events_count"));
    assert!(text.contains("footprint_ingest_commit_seconds_bucket"));
    assert!(
        text.contains("footprint_http_request_seconds_count{method=\"POST\",route=\"/api/track\",status=\"200\"} 2"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let spec = body(app.get("/openapi.json", None).await).await;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let mut listed: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{} {path}", method.to_uppercase()))
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        "GET /health",
        "GET /ready",
        "GET /metrics",
        "POST /api/v1/auth/login",
        "POST /api/v1/users",
        "GET /api/v1/users/{id}",
        "POST /api/tracking/consent",
        "GET /api/tracking/consent/{user_id}",
        "POST /api/track",
        "POST /api/track/batch",
        "GET /api/v1/events",
        "GET /api/v1/users/{user_id}/next-actions",
        "POST /create_user",
        "POST /login",
        "POST /check-token",
        "POST /interactions/submit",
        "GET /interactions",
        "GET /interactions/{username}",
        "GET /stats/usage",
        "GET /stats/interactions",
        "GET /stats/feedback",
        "GET /predict_next_action/{username}",
        "POST /api/tracking/event/match-proposed",
        "POST /api/tracking/event/match-viewed",
        "POST /api/tracking/event/match-decision",
        "POST /api/tracking/event/match-feedback",
        "GET /api/metrics/acceptance",
        "GET /api/metrics/satisfaction",
        "GET /api/metrics/constraints",
        "POST /api/ml/update",
        "POST /api/privacy/cleanup",
        "DELETE /api/v1/users/{id}",
        "GET /api/v1/users/{id}/export",
        "POST /api/v1/users/{id}/anonymize",
        "GET /api/profile/health",
        "POST /api/profile/auth",
        "GET /api/profile/{user_id}",
        "PUT /api/profile/{user_id}",
        "GET /api/profile/{user_id}/features",
        "GET /api/profile/{user_id}/history",
        "GET /api/profile/{user_id}/preferences",
        "GET /api/profile/{user_id}/patterns",
        "GET /api/profile/{user_id}/enriched",
        "POST /api/profile/{user_id}/recalculate",
        "GET /api/profile/{user_id}/cluster",
        "GET /api/profile/{user_id}/recommendations",
        "GET /api/profile/clusters",
        "POST /api/profile/clusters/update",
        "POST /api/v1/attendance/events",
        "GET /api/v1/attendance/events",
        "GET /api/v1/attendance/events/{id}",
        "PUT /api/v1/attendance/events/{id}",
        "DELETE /api/v1/attendance/events/{id}",
        "POST /api/v1/attendance/events/{id}/registrations",
        "PUT /api/v1/attendance/events/{id}/registrations/{user_id}",
        "POST /api/v1/attendance/import",
        "GET /api/v1/attendance/organizations/{id}",
        "PUT /api/v1/attendance/organizations/{id}",
        "GET /api/ml/health",
        "POST /api/ml/predict-attendance",
        "GET /api/ml/models",
        "GET /api/ml/models/{id}",
        "POST /api/ml/models/train",
        "GET /api/v1/jobs",
        "POST /api/ml/analyze-factors",
        "GET /api/ml/models/{id}/performance",
        "POST /api/ml/anomalies",
        "POST /api/ml/recommendations",
        "POST /api/ml/batch-predict",
        "POST /api/ml/insights",
        "POST /api/ml/test-prediction",
        "GET /api/ml/analytics",
        "GET /api/visualizations/{type}",
        "POST /api/v1/users/{id}/revoke-tokens",
        "PUT /api/v1/users/{id}",
        "POST /api/v1/users/{id}/upgrade",
        "GET /api/v1/users/{id}/tier-history",
        "POST /api/v1/auth/mfa/enroll",
        "POST /api/v1/auth/mfa/verify",
        "POST /api/v1/auth/mfa/challenge",
        "DELETE /api/v1/auth/mfa",
        "GET /api/v1/admin/outbox",
        "GET /api/v1/users/{id}/security",
        "GET /api/v1/users/{id}/insights",
        "GET /api/v1/insights/anomalies",
        "GET /api/v1/insights/cohorts",
        "GET /api/v1/insights/tiers",
        "GET /api/v1/insights/report",
        "POST /api/v1/insights/churn/train",
        "GET /api/v1/automation/runs",
        "GET /api/v1/automation/runs/{id}",
        "POST /v1/{call}",
        "POST /batch",
        "POST /api/collect",
        "OPTIONS /api/collect",
        "POST /api/v1/webhooks",
        "GET /api/v1/webhooks",
        "DELETE /api/v1/webhooks/{id}",
        "GET /api/v1/webhooks/{id}/deliveries",
        "GET /api/v1/export",
        "POST /api/v1/import",
    ];
    expected.sort_unstable();
    assert_eq!(listed, expected);
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert!(schemes.contains_key("bearer") && schemes.contains_key("api_key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_is_served_with_no_external_url() {
    let app = TestApp::spawn().await;
    let redirect = app.get("/docs", None).await;
    assert!(redirect.status().is_redirection());
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/swagger-initializer.js"] {
        let response = app.get(asset, None).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        let text = response.text().await.unwrap();
        if asset.ends_with("initializer.js") {
            assert!(text.contains("/openapi.json"), "{text}");
        }
    }
    for text in [html, app.get("/docs/swagger-initializer.js", None).await.text().await.unwrap()] {
        assert!(!text.contains("https://") && !text.contains("http://"), "the page must work offline: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = TestApp::spawn().await;
    assert_eq!(error_code(app.get("/no/such/route", None).await, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let response = app.client.delete(app.url("/health")).send().await.unwrap();
    assert_eq!(error_code(response, StatusCode::METHOD_NOT_ALLOWED).await, "METHOD_NOT_ALLOWED");
}

/// Debian's headless Chromium renders `/docs` from what the binary serves; the machine's network
/// is closed, so anything fetched from elsewhere would be missing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_page_renders_in_a_headless_browser() {
    let app = TestApp::spawn().await;
    let profile = tempfile::tempdir().unwrap();
    let chromium = std::env::var("FOOTPRINT_TEST_CHROMIUM").unwrap_or_else(|_| "chromium".to_owned());
    let url = app.url("/docs/");
    let output = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=10000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&url)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("{chromium} must be installed for browser tests (.ci/test installs Debian's chromium): {e}")
        });
    let dom = String::from_utf8_lossy(&output.stdout);
    assert!(dom.contains(r#"class="title">Footprint"#), "Swagger UI did not render the spec's title:\n{dom}");
    assert!(dom.contains("opblock"), "no operation was rendered");
    assert!(dom.contains("/api/track/batch"), "the operations come from /openapi.json");
}
