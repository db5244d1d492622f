//! Every protected route, without a token, with a bad or expired token, and with the wrong role.

use footprint::accounts::jwt::TokenSubject;
use footprint_analytics::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code};

/// Who may call a route, at the least.
#[derive(Debug, Clone, Copy)]
enum Needs {
    /// Admin only.
    Admin,
    /// Manager or admin.
    Staff,
    /// The user themself (each route here names another user), or staff.
    SelfOrStaff,
    /// The user themself, or an admin.
    SelfOrAdmin,
    /// Any account's own token (the route acts on the caller's account); not an API key.
    Account,
}

struct Route {
    method: Method,
    path: &'static str,
    body: Option<Value>,
    needs: Needs,
}

fn protected_routes() -> Vec<Route> {
    let route = |method: Method, path: &'static str, body: Option<Value>, needs| Route { method, path, body, needs };
    vec![
        route(Method::POST, "/api/v1/users", Some(json!({"username": "new", "password": PASSWORD})), Needs::Admin),
        route(Method::GET, "/api/v1/users/bob", None, Needs::SelfOrStaff),
        route(Method::POST, "/api/v1/users/bob/revoke-tokens", None, Needs::SelfOrAdmin),
        route(Method::PUT, "/api/v1/users/bob", Some(json!({"updates": {"display_name": "Bob"}})), Needs::SelfOrStaff),
        route(Method::PUT, "/api/v1/users/bob", Some(json!({"tier": "vip"})), Needs::Admin),
        route(Method::POST, "/api/v1/users/bob/upgrade", Some(json!({"new_tier": "premium"})), Needs::Admin),
        route(Method::GET, "/api/v1/users/bob/tier-history", None, Needs::SelfOrStaff),
        route(Method::POST, "/api/v1/auth/mfa/enroll", None, Needs::Account),
        route(Method::GET, "/api/v1/admin/outbox", None, Needs::Admin),
        route(Method::GET, "/api/v1/users/bob/security", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/v1/users/bob/insights", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/v1/insights/cohorts?period=week", None, Needs::Staff),
        route(Method::GET, "/api/v1/insights/tiers", None, Needs::Staff),
        route(Method::GET, "/api/v1/insights/report", None, Needs::Staff),
        route(Method::GET, "/api/v1/insights/anomalies", None, Needs::Staff),
        route(Method::POST, "/api/v1/insights/churn/train", None, Needs::Admin),
        route(Method::GET, "/api/v1/automation/runs", None, Needs::Admin),
        route(Method::GET, "/api/v1/automation/runs/run-1", None, Needs::Admin),
        route(Method::POST, "/api/v1/auth/mfa/verify", Some(json!({"code": "000000"})), Needs::Account),
        route(Method::DELETE, "/api/v1/auth/mfa", Some(json!({"code": "000000"})), Needs::Account),
        route(Method::GET, "/api/v1/events", None, Needs::Staff),
        route(
            Method::POST,
            "/api/tracking/consent?user_id=bob&analytics=true&preferences=true&improvement=true",
            None,
            Needs::SelfOrStaff,
        ),
        route(Method::GET, "/api/tracking/consent/bob", None, Needs::SelfOrStaff),
        route(Method::POST, "/api/track", Some(json!({"user_id": "bob", "type": "click"})), Needs::SelfOrStaff),
        route(
            Method::POST,
            "/api/track/batch",
            Some(json!({"batch": [{"user_id": "bob", "type": "click"}]})),
            Needs::SelfOrStaff,
        ),
        route(
            Method::POST,
            "/api/tracking/event/match-proposed?user_id=bob&match_id=m1&match_score=0.5&alternatives_count=2",
            Some(json!({"constraint_satisfaction": {"skills": 0.5}})),
            Needs::SelfOrStaff,
        ),
        route(
            Method::POST,
            "/api/tracking/event/match-viewed?user_id=bob&match_id=m1&view_duration_seconds=3",
            None,
            Needs::SelfOrStaff,
        ),
        route(
            Method::POST,
            "/api/tracking/event/match-decision?user_id=bob&match_id=m1&decision=true",
            Some(json!(["fits"])),
            Needs::SelfOrStaff,
        ),
        route(
            Method::POST,
            "/api/tracking/event/match-feedback?user_id=bob&match_id=m1&rating=4",
            Some(json!({"relevance": 4})),
            Needs::SelfOrStaff,
        ),
        route(Method::GET, "/api/metrics/acceptance?days=30", None, Needs::Staff),
        route(Method::GET, "/api/metrics/satisfaction?days=30", None, Needs::Staff),
        route(Method::GET, "/api/metrics/constraints?days=30", None, Needs::Staff),
        route(Method::POST, "/api/ml/update", None, Needs::Admin),
        route(Method::POST, "/api/privacy/cleanup", None, Needs::Admin),
        route(Method::GET, "/api/profile/bob", None, Needs::SelfOrStaff),
        route(Method::PUT, "/api/profile/bob", Some(json!({"display_name": "Bob"})), Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/features", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/history", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/preferences", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/patterns", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/enriched", None, Needs::SelfOrStaff),
        route(Method::POST, "/api/profile/bob/recalculate", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/cluster", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/bob/recommendations", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/profile/clusters", None, Needs::Staff),
        route(Method::POST, "/api/profile/clusters/update", None, Needs::Admin),
        route(
            Method::POST,
            "/api/v1/attendance/events",
            Some(
                json!({"id": "e1", "name": "Yoga", "type": "class", "start": "2026-03-10T18:00:00Z", "duration_minutes": 60}),
            ),
            Needs::Staff,
        ),
        route(Method::GET, "/api/v1/attendance/events", None, Needs::Staff),
        route(Method::GET, "/api/v1/attendance/events/e1", None, Needs::Staff),
        route(
            Method::PUT,
            "/api/v1/attendance/events/e1",
            Some(json!({"name": "Yoga", "type": "class", "start": "2026-03-10T18:00:00Z", "duration_minutes": 60})),
            Needs::Staff,
        ),
        route(
            Method::POST,
            "/api/v1/attendance/events/e1/registrations",
            Some(json!({"user_id": "bob", "registered_at": "2026-03-01T09:00:00Z"})),
            Needs::Staff,
        ),
        route(
            Method::PUT,
            "/api/v1/attendance/events/e1/registrations/bob",
            Some(json!({"attended": true})),
            Needs::Staff,
        ),
        route(
            Method::POST,
            "/api/v1/attendance/import",
            Some(
                json!({"id": "e2", "name": "Yoga", "type": "class", "start": "2026-03-10T18:00:00Z", "duration_minutes": 60}),
            ),
            Needs::Staff,
        ),
        route(
            Method::PUT,
            "/api/v1/attendance/organizations/org-1",
            Some(json!({"timezone": "Europe/Paris", "attributes": {"age": "numeric"}})),
            Needs::Staff,
        ),
        route(Method::GET, "/api/v1/attendance/organizations/org-1", None, Needs::Staff),
        route(Method::DELETE, "/api/v1/attendance/events/e1", None, Needs::Staff),
        route(Method::POST, "/api/ml/predict-attendance", Some(json!({"eventId": "e1"})), Needs::Staff),
        route(Method::GET, "/api/ml/models", None, Needs::Admin),
        route(Method::GET, "/api/v1/jobs", None, Needs::Admin),
        route(Method::POST, "/api/ml/analyze-factors", Some(json!({})), Needs::Staff),
        route(Method::POST, "/api/ml/anomalies", Some(json!({})), Needs::Staff),
        route(Method::POST, "/api/ml/recommendations", Some(json!({})), Needs::Staff),
        route(Method::GET, "/api/ml/models/model-x/performance", None, Needs::Staff),
        route(Method::GET, "/api/ml/models/model-x", None, Needs::Admin),
        route(Method::POST, "/api/ml/models/train", Some(json!({})), Needs::Admin),
        route(Method::POST, "/api/ml/batch-predict", Some(json!({"eventIds": ["e1"]})), Needs::Staff),
        route(Method::POST, "/api/ml/insights", Some(json!({})), Needs::Staff),
        route(Method::POST, "/api/ml/test-prediction", Some(json!({"testData": {"eventId": "e1"}})), Needs::Admin),
        route(Method::GET, "/api/ml/analytics", None, Needs::Staff),
        route(Method::GET, "/api/visualizations/cluster_scatter", None, Needs::Staff),
        route(Method::GET, "/api/visualizations/hourly_activity_heatmap?user_id=bob", None, Needs::SelfOrStaff),
        route(Method::GET, "/api/v1/users/bob/export", None, Needs::SelfOrAdmin),
        route(Method::POST, "/api/v1/users/carol/anonymize", None, Needs::Admin),
        // Last: it erases bob.
        route(Method::DELETE, "/api/v1/users/bob", None, Needs::SelfOrAdmin),
    ]
}

async fn call(app: &TestApp, route: &Route, credential: Option<&str>) -> reqwest::Response {
    let mut request = app.client.request(route.method.clone(), app.url(route.path));
    if let Some(credential) = credential {
        request = request.bearer_auth(credential);
    }
    if let Some(body) = &route.body {
        request = request.json(body);
    }
    request.send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_routes_refuse_missing_bad_and_expired_credentials() {
    let app = TestApp::spawn().await;
    let now = time::OffsetDateTime::now_utc();
    let generation = app.state.store.token_generation("admin").await.unwrap().expect("the admin's generation");
    let admin = |generation| TokenSubject { user_id: "admin", role: Role::Admin, username: Some("admin"), generation };
    let expired = app.state.auth.jwt().issue(admin(generation), now - time::Duration::hours(3)).access_token;
    let forged = footprint::accounts::jwt::JwtKeys::new(
        b"someone-elses-secret-someone-else",
        std::time::Duration::from_secs(600),
    )
    .issue(admin(generation), now)
    .access_token;
    let mut tampered = app.admin_token.clone();
    tampered.insert(tampered.len() / 2, 'x');
    // Signed here and unexpired, but not under the account's generation; and the token of an
    // account erased since it was issued.
    let stale = app.state.auth.jwt().issue(admin(generation + 1), now).access_token;
    let erased = app.user_with_role("gone-admin", Role::Admin).await;
    let erasure = app.client.delete(app.url("/api/v1/users/gone-admin")).bearer_auth(&app.admin_token).send().await;
    assert_eq!(erasure.unwrap().status(), StatusCode::OK);
    for route in &protected_routes() {
        let label = format!("{} {}", route.method, route.path);
        assert_eq!(
            error_code(call(&app, route, None).await, StatusCode::UNAUTHORIZED).await,
            "UNAUTHORIZED",
            "{label}"
        );
        let bad = [
            ("garbage", "not-a-token"),
            ("forged", forged.as_str()),
            ("tampered", tampered.as_str()),
            ("stale", stale.as_str()),
            ("erased account's", erased.as_str()),
        ];
        for (name, token) in bad {
            let code = error_code(call(&app, route, Some(token)).await, StatusCode::UNAUTHORIZED).await;
            assert_eq!(code, "INVALID_TOKEN", "{label} with a {name} token");
        }
        assert_eq!(
            error_code(call(&app, route, Some(&expired)).await, StatusCode::UNAUTHORIZED).await,
            "TOKEN_EXPIRED",
            "{label}"
        );
        assert_eq!(
            error_code(call(&app, route, Some("fp_unknown1_abcdefghijklmnop")).await, StatusCode::UNAUTHORIZED).await,
            "INVALID_TOKEN",
            "{label} with an unknown API key"
        );
    }
    let wrong_scheme = app
        .client
        .get(app.url("/api/v1/events"))
        .header("authorization", "Basic YWRtaW46YWRtaW4=")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(wrong_scheme, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protected_routes_refuse_the_wrong_role() {
    let app = TestApp::spawn().await;
    let user = app.user_with_role("alice", Role::User).await;
    let manager = app.user_with_role("mgr", Role::Manager).await;
    app.user_with_role("bob", Role::User).await;
    app.grant_consent("bob").await;
    app.grant_consent("carol").await;
    let key = app.ingest_key().await;
    for route in protected_routes() {
        let label = format!("{} {}", route.method, route.path);
        let refused: Vec<(&str, &str)> = match route.needs {
            Needs::Admin => vec![("user", user.as_str()), ("manager", manager.as_str()), ("API key", key.as_str())],
            Needs::Staff => vec![("user", user.as_str()), ("API key", key.as_str())],
            Needs::SelfOrStaff => vec![("another user", user.as_str())],
            Needs::SelfOrAdmin => {
                vec![("another user", user.as_str()), ("manager", manager.as_str()), ("API key", key.as_str())]
            }
            Needs::Account => vec![("API key", key.as_str())],
        };
        for (who, credential) in refused {
            let code = error_code(call(&app, &route, Some(credential)).await, StatusCode::FORBIDDEN).await;
            assert_eq!(code, "FORBIDDEN", "{label} as {who}");
        }
        assert_passes_role_check(&app, &route, &app.admin_token, &format!("{label} as admin")).await;
        // The roles the route allows pass the check. A manager on staff routes: the call may then
        // meet what the admin's call did before (409, 404), but never 401 or 403.
        if matches!(route.needs, Needs::Staff | Needs::SelfOrStaff | Needs::Account) {
            let status = call(&app, &route, Some(&manager)).await.status();
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{label} as manager: {status}"
            );
        }
    }
}

/// The call gets past the role check: success, or (for routes that need data or a trained
/// model, none of which this test creates) 422 `INSUFFICIENT_DATA` or 404 `MODEL_NOT_FOUND`.
async fn assert_passes_role_check(app: &TestApp, route: &Route, credential: &str, label: &str) {
    let response = call(app, route, Some(credential)).await;
    let status = response.status();
    if status.is_success() {
        return;
    }
    let code = body(response).await["error"]["code"].as_str().unwrap_or_default().to_owned();
    // A second-factor route given a made-up code: refused for the code, past the role check
    // (or nothing enrolled for this caller).
    let mfa = route.path.starts_with("/api/v1/auth/mfa")
        && ((status == StatusCode::UNPROCESSABLE_ENTITY && code == "VALIDATION_ERROR")
            || (status == StatusCode::CONFLICT && code == "CONFLICT")
            || (status == StatusCode::NOT_FOUND && code == "NOT_FOUND"));
    // A run that does not exist: 404, past the role check.
    let missing_run =
        route.path == "/api/v1/automation/runs/run-1" && status == StatusCode::NOT_FOUND && code == "NOT_FOUND";
    let passed = mfa
        || missing_run
        || (status == StatusCode::UNPROCESSABLE_ENTITY
                && code == "INSUFFICIENT_DATA"
                && [
                    "/api/ml/update",
                    "/api/profile/bob/cluster",
                    "/api/profile/bob/recommendations",
                    "/api/profile/clusters",
                    "/api/ml/analyze-factors",
                    "/api/ml/recommendations",
                    "/api/ml/insights",
                    "/api/ml/models/train",
                    // No event of bob's, nor enough users to train on: past the role check.
                    "/api/v1/users/bob/insights",
                    "/api/v1/insights/cohorts?period=week",
                    "/api/v1/insights/churn/train",
                ]
                .contains(&route.path))
            // No attendance model is trained in this test: MODEL_NOT_FOUND, past the role check.
            || (status == StatusCode::NOT_FOUND
                && code == "MODEL_NOT_FOUND"
                && [
                    "/api/ml/predict-attendance",
                    "/api/ml/models/model-x/performance",
                    "/api/ml/models/model-x",
                    "/api/ml/batch-predict",
                    "/api/ml/test-prediction",
                ]
                .contains(&route.path));
    assert!(passed, "{label}: {status} {code}");
}
