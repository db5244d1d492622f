//! What the edge accepts, on both stores alike: no NUL character anywhere (PostgreSQL cannot
//! hold it), every error in the JSON shape with `WWW-Authenticate` on 401s, `/metrics` behind a
//! token unless the address is private, seed 004's codes for malformed `/api/ml` requests, the
//! weather as a condition, and ranges checked before bad values reach metrics and profiles.

use footprint::accounts::api_key;
use footprint::app::config::MetricsAccess;
use footprint::kernel::clock::{Clock, SystemClock};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

async fn nul_is_refused_before_the_store(app: &TestApp) {
    let admin = &app.admin_token;
    // Unauthenticated: a 4xx naming the field, not a 500 and an error line per request.
    let login = app.post_json("/api/v1/auth/login", None, &json!({"username": "a\u{0}b", "password": "x"})).await;
    assert_eq!(error_code(login, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let seed_login =
        app.client.post(app.url("/login")).form(&[("username", "a\u{0}b"), ("password", "x")]).send().await.unwrap();
    assert!(seed_login.status().is_client_error(), "{}", seed_login.status());
    assert_eq!(body(seed_login).await["success"], json!(false));

    let path = app.get("/api/v1/users/x%00", Some(admin)).await;
    assert_eq!(path.status(), StatusCode::BAD_REQUEST);
    assert!(body(path).await["error"]["message"].as_str().unwrap().starts_with("id: "));

    let query =
        app.post_query("/api/tracking/consent", Some(admin), &[("user_id", "a\u{0}"), ("analytics", "true")]).await;
    let query = body(query).await;
    assert_eq!(query["error"]["code"], "INVALID_PARAMETERS", "{query}");
    assert!(query["error"]["message"].as_str().unwrap().starts_with("user_id: "), "{query}");

    let ml = app.post_json("/api/ml/predict-attendance", Some(admin), &json!({"eventId": "e\u{0}"})).await;
    let ml = body(ml).await;
    assert_eq!(ml["error"]["code"], "INVALID_PARAMETERS", "{ml}");
    assert!(ml["error"]["message"].as_str().unwrap().starts_with("eventId: "), "{ml}");

    let decision = app
        .client
        .post(app.url("/api/tracking/event/match-decision"))
        .bearer_auth(admin)
        .query(&[("user_id", "u1"), ("match_id", "m1"), ("decision", "true")])
        .json(&json!({"reasons": ["r\u{0}"]}))
        .send()
        .await
        .unwrap();
    let decision = body(decision).await;
    assert_eq!(decision["error"]["code"], "VALIDATION_ERROR", "{decision}");
    assert!(decision["error"]["message"].as_str().unwrap().starts_with("reasons[0]: "), "{decision}");

    let line = json!({"id": "nul", "name": "n\u{0}", "type": "class", "start": "2026-03-10T18:00:00Z", "duration_minutes": 60});
    let import = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(admin)
        .header("content-type", "application/x-ndjson")
        .body(line.to_string())
        .send()
        .await
        .unwrap();
    let import = body(import).await;
    assert_eq!(import["events_imported"], 0, "{import}");
    assert!(import["rejected"][0]["reason"].as_str().unwrap().starts_with("name: must not contain the NUL"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_at_the_edge_on_sqlite() {
    let app = TestApp::spawn().await;
    nul_is_refused_before_the_store(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_are_refused_at_the_edge_on_postgres() {
    let app = TestApp::spawn_postgres_with(|_| {}).await;
    nul_is_refused_before_the_store(&app).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_says_how_to_authenticate() {
    let app = TestApp::spawn().await;
    let missing = app.get("/api/v1/events", None).await;
    assert_eq!(missing.headers()["www-authenticate"], r#"Bearer realm="footprint""#);
    assert_eq!(error_code(missing, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    let bad = app.get("/api/v1/events", Some("not-a-token")).await;
    assert_eq!(bad.headers()["www-authenticate"], r#"Bearer realm="footprint", error="invalid_token""#);
    assert_eq!(error_code(bad, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
    let wrong = app.post_json("/api/v1/auth/login", None, &json!({"username": "admin", "password": "wrong"})).await;
    assert!(wrong.headers().contains_key("www-authenticate"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_a_token_unless_configured_public() {
    let app = TestApp::spawn_with(|config| config.server.metrics_access = MetricsAccess::Token).await;
    let anonymous = app.get("/metrics", None).await;
    assert_eq!(error_code(anonymous, StatusCode::UNAUTHORIZED).await, "UNAUTHORIZED");
    assert_eq!(app.get("/metrics", Some(&app.admin_token)).await.status(), StatusCode::OK);
    let ingest = app.ingest_key().await;
    assert_eq!(error_code(app.get("/metrics", Some(&ingest)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let (scraper, record) = api_key::generate(
        "prometheus",
        vec!["metrics".to_owned()],
        footprint_analytics::Tier::Vip,
        SystemClock.now_us(),
    );
    app.state.store.insert_api_key(record).await.unwrap();
    let scraped = app.get("/metrics", Some(&scraper)).await;
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("footprint_http_request_seconds"));
    app.stop().await;

    // By default (auto) the test server, on 127.0.0.1, serves them to anyone.
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/metrics", None).await.status(), StatusCode::OK);
    app.stop().await;
}

#[test]
fn metrics_are_public_by_default_only_on_loopback_and_private_addresses() {
    let mut server = footprint::Config::default().server;
    for (host, public) in [
        ("127.0.0.1", true),
        ("10.1.2.3", true),
        ("192.168.0.7", true),
        ("::1", true),
        ("fd12::1", true),
        ("localhost", true),
        ("0.0.0.0", false),
        ("203.0.113.4", false),
        ("2001:db8::1", false),
        ("example.com", false),
    ] {
        server.host = host.to_owned();
        assert_eq!(server.metrics_are_public(), public, "{host}");
    }
    server.host = "0.0.0.0".to_owned();
    server.metrics_access = MetricsAccess::Public;
    assert!(server.metrics_are_public());
    server.host = "127.0.0.1".to_owned();
    server.metrics_access = MetricsAccess::Token;
    assert!(!server.metrics_are_public());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_from_below_the_handlers_are_json_too() {
    let app = TestApp::spawn().await;
    let too_large = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body("a".repeat(app.state.config.ingest.batch_max_bytes + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(too_large, StatusCode::PAYLOAD_TOO_LARGE).await, "PAYLOAD_TOO_LARGE");
    let not_utf8 = app.get("/api/v1/users/%ff%fe", Some(&app.admin_token)).await;
    assert_eq!(error_code(not_utf8, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weather_may_be_a_condition_on_its_own() {
    let app = TestApp::spawn().await;
    let admin = &app.admin_token;
    let event = json!({"id": "rainy-class", "name": "Cours", "type": "class", "start": "2026-03-10T18:00:00Z",
                       "duration_minutes": 60, "weather": "rainy"});
    assert_eq!(app.post_json("/api/v1/attendance/events", Some(admin), &event).await.status(), StatusCode::CREATED);
    let stored = body(app.get("/api/v1/attendance/events/rainy-class", Some(admin)).await).await;
    assert_eq!(stored["weather"], json!({"condition": "rainy"}), "{stored}");
    let line = json!({"id": "snowy-class", "name": "Cours", "type": "class", "start": "2026-03-11T18:00:00Z",
                      "duration_minutes": 60, "weather": "snowy", "registrations": []});
    let import = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(admin)
        .header("content-type", "application/x-ndjson")
        .body(line.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body(import).await["events_imported"], 1);
    let bad = json!({"name": "Cours", "type": "class", "start": "2026-03-12T18:00:00Z", "duration_minutes": 60, "weather": " "});
    assert_eq!(
        error_code(
            app.post_json("/api/v1/attendance/events", Some(admin), &bad).await,
            StatusCode::UNPROCESSABLE_ENTITY
        )
        .await,
        "VALIDATION_ERROR"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ml_routes_refuse_malformed_requests_with_the_seeds_code_and_the_valid_values() {
    let app = TestApp::spawn().await;
    let admin = &app.admin_token;
    let cases: [(&str, Value, &str); 7] = [
        ("/api/ml/anomalies", json!({"sensitivity": 5}), "the body does not have the expected shape"),
        (
            "/api/ml/anomalies",
            json!({"categories": ["astrology"]}),
            "categories: astrology is not one of attendance_drops",
        ),
        ("/api/ml/anomalies", json!({"scope": "planet"}), "scope: planet is not one of organization, event"),
        ("/api/ml/anomalies", json!({"timeframe": {"start": "soon"}}), "timeframe.start: "),
        ("/api/ml/recommendations", json!({"focus": ["luck"]}), "focus: luck is not one of attendance_optimization"),
        (
            "/api/ml/analyze-factors",
            json!({"factors": ["moon"]}),
            "factors: moon is not a factor or an attribute of these registrations; one of weather, day_of_week",
        ),
        ("/api/ml/analyze-factors", json!({"timeRange": {"end": "later"}}), "timeRange.end: "),
    ];
    for (path, request, message) in cases {
        let answer = app.post_json(path, Some(admin), &request).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{path} {request}");
        let answer = body(answer).await;
        assert_eq!(answer["error"]["code"], "INVALID_PARAMETERS", "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(message), "{path} {request}: {answer}");
    }
    let train = app.post_json("/api/ml/models/train", Some(admin), &json!({"validationSplit": "lots"})).await;
    assert_eq!(error_code(train, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_events_and_profiles_are_range_checked() {
    let app =
        TestApp::spawn_with(|config| config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant).await;
    let admin = &app.admin_token;
    let proposed = |score: &'static str, constraints: Value| {
        app.client
            .post(app.url("/api/tracking/event/match-proposed"))
            .bearer_auth(admin)
            .query(&[("user_id", "u1"), ("match_id", "m1"), ("match_score", score), ("alternatives_count", "3")])
            .json(&json!({"constraint_satisfaction": constraints}))
            .send()
    };
    let score = proposed("2", json!({"skills": 0.8})).await.unwrap();
    assert_eq!(error_code(score, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let constraint = body(proposed("0.8", json!({"skills": 2.0})).await.unwrap()).await;
    assert!(
        constraint["error"]["message"].as_str().unwrap().starts_with("constraint_satisfaction.skills: "),
        "{constraint}"
    );
    assert_eq!(proposed("0.8", json!({"skills": 0.9})).await.unwrap().status(), StatusCode::OK);
    let feedback = app
        .client
        .post(app.url("/api/tracking/event/match-feedback"))
        .bearer_auth(admin)
        .query(&[("user_id", "u1"), ("match_id", "m1"), ("rating", "4")])
        .json(&json!({"specific_aspects": {"relevance": 99}}))
        .send()
        .await
        .unwrap();
    let feedback = body(feedback).await;
    assert!(feedback["error"]["message"].as_str().unwrap().starts_with("specific_aspects.relevance: "), "{feedback}");

    for (profile, field) in [
        (json!({"timezone": "Europe/Atlantis"}), "profile.timezone"),
        (json!({"language": "en_GB"}), "profile.language"),
    ] {
        let account = json!({"username": "zoe", "password": crate::helpers::PASSWORD, "profile_data": profile});
        let refused = body(app.post_json("/api/v1/users", Some(admin), &account).await).await;
        assert_eq!(refused["error"]["code"], "VALIDATION_ERROR", "{refused}");
        assert!(refused["error"]["message"].as_str().unwrap().starts_with(field), "{refused}");
    }
    app.stop().await;
}
