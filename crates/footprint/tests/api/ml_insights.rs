//! Seed 004's insights, batch predictions, test predictions and the service's analytics, on
//! the generated history of `ml.rs` with a trained model; and the error codes they produce.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

pub(crate) struct Tokens<'a> {
    pub admin: &'a str,
    pub manager: &'a str,
    pub user: &'a str,
}

/// `model` is the trained model's id, `failed` the id of a run that ended in `error`;
/// `predicted_so_far` the predictions the model made before.
pub(crate) async fn check(app: &TestApp, tokens: Tokens<'_>, model: &str, failed: &str, predicted_so_far: u64) {
    let Tokens { admin, manager, user } = tokens;

    // Insights: the seed's request as written (the clock stands just after the 40 weeks).
    let seed_request = json!({"scope": "organization", "timeframe": "last_quarter",
        "categories": ["attendance_trends", "user_engagement", "event_performance", "operational_efficiency"],
        "depth": "detailed", "includeRecommendations": true});
    let insights = app.post_json("/api/ml/insights", Some(manager), &seed_request).await;
    assert_eq!(insights.status(), StatusCode::OK);
    let insights = body(insights).await;
    assert_eq!(insights["success"], true);
    let data = &insights["data"];
    let insight = |category: &str| {
        data["insights"].as_array().unwrap().iter().find(|i| i["category"] == category).unwrap().clone()
    };
    let trends = insight("attendance_trends");
    let days = trends["data"]["byDayOfWeek"].as_array().unwrap();
    assert_eq!(days[0]["level"], "tuesday", "{trends}");
    assert!(trends["confidence"].as_f64().unwrap() > 0.99, "{trends}");
    let analysed = data["summary"]["registrationsAnalysed"].as_u64().unwrap();
    let by_day: u64 = days.iter().map(|d| d["registrations"].as_u64().unwrap()).sum();
    assert_eq!(by_day, analysed, "sample sizes add up");
    assert_eq!(trends["data"]["trend"]["observations"].as_u64().unwrap(), analysed);
    // About 13 weeks × 3 classes × 30 registrants.
    assert!((900..1500).contains(&analysed), "{analysed}");
    let engagement = insight("user_engagement");
    let segments = engagement["segments"].as_array().unwrap();
    let occasional: Vec<&Value> =
        segments.iter().filter(|s| s["name"].as_str().unwrap().starts_with("Occasional")).collect();
    assert_eq!(occasional.len(), 1, "{segments:?}");
    assert_eq!(occasional[0]["users"], 12, "the planted group: every fifth of 60 users");
    assert!(occasional[0]["attendanceRate"].as_f64().unwrap() < 0.3);
    // The segments are found again on alternate registrations (adjusted Rand index).
    // About 10 registrations per user in each half: well above the ~0 of segments of noise.
    assert!(engagement["confidence"].as_f64().unwrap() > 0.5, "{engagement}");
    assert_eq!(engagement["confidence"], engagement["data"]["stability"]);
    let operations = insight("operational_efficiency");
    let no_show = operations["data"]["noShowRate"].as_f64().unwrap();
    assert!((no_show - (1.0 - trends["data"]["averageRate"].as_f64().unwrap())).abs() < 1e-12);
    assert!(!data["actionItems"].as_array().unwrap().is_empty());
    assert_eq!(data["summary"]["dataQuality"], "high");

    let bad = app.post_json("/api/ml/insights", Some(manager), &json!({"categories": ["astrology"]})).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let empty = app
        .post_json(
            "/api/ml/insights",
            Some(manager),
            &json!({"timeframe": {"start": "2020-01-01T00:00:00Z", "end": "2020-06-01T00:00:00Z"}}),
        )
        .await;
    assert_eq!(error_code(empty, StatusCode::UNPROCESSABLE_ENTITY).await, "INSUFFICIENT_DATA");
    let hurried = app.post_json("/api/ml/insights", Some(manager), &json!({"timeframe": "all", "timeoutMs": 0})).await;
    assert_eq!(error_code(hurried, StatusCode::GATEWAY_TIMEOUT).await, "ANALYSIS_TIMEOUT");
    let refused = app.post_json("/api/ml/insights", Some(user), &seed_request).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "FORBIDDEN");

    // Batch: the seed's request as written names events that do not exist here.
    let seed_batch = json!({"eventIds": ["event-123", "event-456", "event-789"], "predictionType": "aggregate",
        "timeHorizon": "30d", "includeIndividual": false});
    let none = app.post_json("/api/ml/batch-predict", Some(manager), &seed_batch).await;
    assert_eq!(none.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let none = body(none).await;
    assert_eq!(none["error"]["code"], "PREDICTION_FAILED");
    assert_eq!(none["error"]["details"].as_array().unwrap().len(), 3);
    assert_eq!(none["error"]["details"][0]["code"], "NOT_FOUND");

    let batch = app
        .post_json(
            "/api/ml/batch-predict",
            Some(manager),
            &json!({"eventIds": ["next-tuesday", "e39-1", "nope"], "predictionType": "aggregate"}),
        )
        .await;
    assert_eq!(batch.status(), StatusCode::OK);
    let batch = body(batch).await;
    let summary = &batch["data"]["summary"];
    assert_eq!((summary["eventsPredicted"].as_u64(), summary["eventsFailed"].as_u64()), (Some(2), Some(1)));
    let events = batch["data"]["events"].as_array().unwrap();
    let expected: f64 = events.iter().map(|e| e["overall"]["expectedAttendance"].as_f64().unwrap()).sum();
    let registered: u64 = events.iter().map(|e| e["overall"]["totalRegistered"].as_u64().unwrap()).sum();
    assert!((summary["overall"]["expectedAttendance"].as_f64().unwrap() - expected).abs() < 1e-9);
    assert_eq!(summary["overall"]["totalRegistered"].as_u64().unwrap(), registered);
    assert!(summary["overall"]["interval"]["low"].as_f64().unwrap() <= expected);
    assert!(expected <= summary["overall"]["interval"]["high"].as_f64().unwrap());
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e["individual"].is_null()), "aggregate only");
    assert_eq!(batch["data"]["failed"][0]["eventId"], "nope");
    // Without ids: the events starting within the horizon (next Tuesday's class only).
    let upcoming = body(
        app.post_json("/api/ml/batch-predict", Some(manager), &json!({"timeHorizon": "7d", "includeIndividual": true}))
            .await,
    )
    .await;
    let upcoming_events = upcoming["data"]["events"].as_array().unwrap();
    assert_eq!(upcoming_events.len(), 1, "{upcoming}");
    assert_eq!(upcoming_events[0]["eventId"], "next-tuesday");
    let people = upcoming_events[0]["individual"].as_array().unwrap().len() as u64;
    for horizon in ["soon", "30é", "", "0d", "-3d"] {
        let bad = app.post_json("/api/ml/batch-predict", Some(manager), &json!({"timeHorizon": horizon})).await;
        assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS", "{horizon:?}");
    }

    // Test predictions (admin): the seed's request names a model that does not exist here.
    let seed_test = json!({"modelId": "model-attendance-pred-v1", "testData": {"userId": "user-123",
        "eventId": "event-456", "eventDate": "2024-03-20T10:00:00Z", "dayOfWeek": "wednesday", "weather": "sunny",
        "historicalRate": 0.85}});
    let missing = app.post_json("/api/ml/test-prediction", Some(admin), &seed_test).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "MODEL_NOT_FOUND");
    let mut test = seed_test.clone();
    test["modelId"] = json!(model);
    let probability = |response: Value| response["data"]["prediction"]["attendanceProbability"].as_f64().unwrap();
    let regular = body(app.post_json("/api/ml/test-prediction", Some(admin), &test).await).await;
    assert_eq!(regular["data"]["resolved"]["features"]["historical_rate"], 0.85);
    assert_eq!(regular["data"]["resolved"]["dayOfWeek"], "wednesday");
    test["testData"]["historicalRate"] = json!(0.15);
    let rare = body(app.post_json("/api/ml/test-prediction", Some(admin), &test).await).await;
    assert!(probability(regular.clone()) > probability(rare) + 0.2, "{regular}");
    test["testData"]["historicalRate"] = json!(0.85);
    test["testData"]["weather"] = json!("rain");
    let wet = body(app.post_json("/api/ml/test-prediction", Some(admin), &test).await).await;
    assert!(probability(wet) < probability(regular));
    test["testData"]["dayOfWeek"] = json!("tuesday");
    let wrong_day = app.post_json("/api/ml/test-prediction", Some(admin), &test).await;
    assert_eq!(error_code(wrong_day, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let mut broken = seed_test.clone();
    broken["modelId"] = json!(failed);
    let broken = app.post_json("/api/ml/test-prediction", Some(admin), &broken).await;
    assert_eq!(error_code(broken, StatusCode::CONFLICT).await, "MODEL_TRAINING_ERROR");
    let broken = app.get(&format!("/api/ml/models/{failed}/performance"), Some(manager)).await;
    assert_eq!(error_code(broken, StatusCode::CONFLICT).await, "MODEL_TRAINING_ERROR");
    let refused = app.post_json("/api/ml/test-prediction", Some(manager), &seed_test).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "FORBIDDEN");

    // The service's analytics: every prediction counted for its model, and the failures by code.
    let made = predicted_so_far + registered + people + 3;
    let analytics = app.get("/api/ml/analytics?period=week&metrics=usage,performance,accuracy", Some(manager)).await;
    assert_eq!(analytics.status(), StatusCode::OK);
    let analytics = body(analytics).await;
    let usage = &analytics["data"]["usage"];
    assert_eq!(usage["totalPredictions"].as_u64().unwrap(), made, "{usage}");
    let by_model = usage["byModel"].as_object().unwrap();
    assert_eq!(by_model.values().map(|v| v.as_u64().unwrap()).sum::<u64>(), made);
    let registry = body(app.get(&format!("/api/ml/models/{model}"), Some(admin)).await).await;
    assert_eq!(registry["data"]["usage"]["totalPredictions"].as_u64().unwrap(), made);
    assert_eq!(usage["callsByOperation"]["test-prediction"], 6);
    let performance = &analytics["data"]["performance"];
    let errors = performance["errorsByCode"].as_object().unwrap();
    for code in
        ["PREDICTION_FAILED", "ANALYSIS_TIMEOUT", "MODEL_TRAINING_ERROR", "MODEL_NOT_FOUND", "INSUFFICIENT_DATA"]
    {
        assert!(errors.get(code).is_some_and(|n| n.as_u64().unwrap() >= 1), "{code}: {errors:?}");
    }
    let calls = performance["calls"].as_f64().unwrap();
    let failures: f64 = errors.values().map(|n| n.as_f64().unwrap()).sum();
    assert!((performance["errorRate"].as_f64().unwrap() - failures / calls).abs() < 1e-12);
    let accuracy = &analytics["data"]["accuracy"];
    assert!(accuracy["lastMonthRegistrations"].as_u64().unwrap() > 100, "{accuracy}");
    assert!((0.5..=1.0).contains(&accuracy["lastMonth"].as_f64().unwrap()), "{accuracy}");
    let bad = app.get("/api/ml/analytics?period=decade", Some(manager)).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    assert_eq!(error_code(app.get("/api/ml/analytics", Some(user)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
}

/// Training runs are limited per hour across the cluster (429), and analyses per node (503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_runs_and_analyses_are_limited() {
    let app = TestApp::spawn_with(|config| config.ml.max_trainings_per_hour = 2).await;
    let admin = app.admin_token.clone();
    // Enough labelled registrations for a run to start (two weeks of generated classes).
    let (events, registrations) = footprint_analytics::attendance::synthetic::weekly_classes(2, 3);
    let lines = footprint::attendance::import::import_lines(&events, &registrations, "Cours", 0).join("\n");
    let import = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&admin)
        .header("content-type", "application/x-ndjson")
        .body(lines)
        .send()
        .await
        .unwrap();
    assert_eq!(import.status(), StatusCode::OK);
    for _ in 0..2 {
        let started = app.post_json("/api/ml/models/train", Some(&admin), &json!({})).await;
        assert_eq!(started.status(), StatusCode::ACCEPTED);
    }
    let third = app.post_json("/api/ml/models/train", Some(&admin), &json!({})).await;
    let retry_after: u64 = third.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((3500..=3601).contains(&retry_after), "the first run ages out in about an hour: {retry_after}");
    assert_eq!(error_code(third, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMIT_EXCEEDED");

    // Every analysis slot taken: the next analysis waits a second, then is turned away.
    let slots = app.state.config.ml.max_concurrent_analyses as u32;
    let held = app.state.analyses.clone().acquire_many_owned(slots).await.unwrap();
    let busy = app.post_json("/api/ml/anomalies", Some(&admin), &json!({"sensitivity": "low"})).await;
    assert_eq!(busy.headers()["retry-after"], "1");
    assert_eq!(error_code(busy, StatusCode::SERVICE_UNAVAILABLE).await, "SERVICE_UNAVAILABLE");
    drop(held);
    let free = app.post_json("/api/ml/anomalies", Some(&admin), &json!({"sensitivity": "low"})).await;
    assert_eq!(free.status(), StatusCode::OK);
}
