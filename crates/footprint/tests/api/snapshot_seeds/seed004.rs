//! Snapshots: seed 004: attendance ML.

use super::*;

/// Monday 2023-06-05: forty weeks of classes from here end in the week of 2024-03-04, inside
/// the README's training window (2023-01-01 to 2024-03-15).
const HISTORY_MONDAY: i64 = synthetic::MONDAY - 30 * 7 * DAY_US;
/// Friday 2024-03-15 10:00 UTC, the README's `generatedAt`.
const README_NOW: i64 = 1_710_496_800_000_000;

/// The generated history (seed 11) moved to start on `HISTORY_MONDAY`, with a planted drop:
/// nobody came to the Tuesday class of week 37 (2024-02-20), inside the README's anomaly window.
fn history() -> String {
    let (events, mut registrations) = synthetic::weekly_classes(40, 11);
    for registration in registrations.iter_mut().filter(|r| r.event_id == "e37-1") {
        registration.attended = Some(false);
    }
    footprint::attendance::import::import_lines(&events, &registrations, "Cours", HISTORY_MONDAY - synthetic::MONDAY)
        .join("\n")
}

/// The README's event ids, as next week's classes, with registrants from the history and the
/// README's `user-456`.
async fn upcoming_events(app: &Snap, admin: &str) {
    let day = |n: i64, hour: i64| rfc3339(1_710_460_800_000_000 + n * DAY_US + hour * HOUR_US);
    let events = [
        ("event-123", "Formation React Avancé", day(4, 18), vec!["user-456", "u1", "u2", "u3", "u5"]),
        ("event-456", "Cours", day(5, 10), vec!["u1", "u4", "u10"]),
        ("event-789", "Cours", day(6, 18), vec!["u2", "u5", "u6", "u7"]),
    ];
    for (id, name, start, users) in events {
        let event = json!({"id": id, "name": name, "type": "class", "start": start, "duration_minutes": 60, "price": 10.0,
                           "organization_id": "org-456"});
        let created = app.client.post(app.url("/api/v1/attendance/events")).bearer_auth(admin).json(&event);
        app.quietly(created, StatusCode::CREATED).await;
        for user in users {
            let registered_at = if user == "user-456" { "2024-03-10T14:00:00Z".to_owned() } else { day(-2, 9) };
            let registration = app
                .client
                .post(app.url(&format!("/api/v1/attendance/events/{id}/registrations")))
                .bearer_auth(admin)
                .json(&json!({"user_id": user, "registered_at": registered_at}));
            app.quietly(registration, StatusCode::CREATED).await;
        }
    }
}

async fn wait_trained(app: &Snap, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let model = body(app.app.get(&format!("/api/ml/models/{id}"), Some(&app.admin_token)).await).await;
        if model["data"]["status"] != "training" {
            assert_eq!(model["data"]["status"], "ready", "{model}");
            return;
        }
        assert!(Instant::now() < deadline, "the model is still training after 120 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed004_ml_routes() {
    let app = Snap::start(README_NOW).await;
    let admin = app.admin_token.clone();
    let manager = app.user_with_role("manon", Role::Manager).await;
    let user = app.user_with_role("ulysse", Role::User).await;
    let (admin, manager, user) = (Some(admin.as_str()), Some(manager.as_str()), Some(user.as_str()));

    app.ndjson("seed004_post_api_v1_attendance_import", "/api/v1/attendance/import", admin.unwrap(), history()).await;
    upcoming_events(&app, admin.unwrap()).await;

    let predict = json!({
        "eventId": "event-123",
        "predictionType": "individual",
        "timeHorizon": "7d",
        "factors": {"weather": true, "historical": true, "demographics": true, "seasonality": true},
        "participants": [{"userId": "user-456", "registrationDate": "2024-03-10T14:00:00Z", "previousAttendance": 0.85}]
    });
    app.get("seed004_get_api_ml_health__before_training", "/api/ml/health", user).await;
    app.post(
        "seed004_post_api_ml_predict_attendance__before_training",
        "/api/ml/predict-attendance",
        manager,
        &predict,
    )
    .await;

    let train = json!({
        "modelType": "attendance_predictor",
        "version": "1.4.0",
        "trainingData": {"startDate": "2023-01-01T00:00:00Z", "endDate": "2024-03-15T23:59:59Z", "includeWeather": true,
                         "includeHolidays": true, "minDataPoints": 1000},
        "hyperparameters": {"learningRate": 0.001, "epochs": 100, "batchSize": 32},
        "validationSplit": 0.2
    });
    let started = app.post("seed004_post_api_ml_models_train", "/api/ml/models/train", admin, &train).await;
    let id = started["data"]["modelId"].as_str().unwrap().to_owned();
    wait_trained(&app, &id).await;

    app.get("seed004_get_api_ml_health", "/api/ml/health", user).await;
    app.get("seed004_get_api_ml_health__staff", "/api/ml/health", manager).await;
    app.get("seed004_get_api_ml_models", "/api/ml/models?status=ready&type=predictor", admin).await;
    app.get("seed004_get_api_ml_models_id", &format!("/api/ml/models/{id}"), admin).await;
    app.get("seed004_get_api_ml_models_id_performance", &format!("/api/ml/models/{id}/performance"), manager).await;
    app.post("seed004_post_api_ml_predict_attendance", "/api/ml/predict-attendance", manager, &predict).await;
    // "Exemples d'utilisation": the same without participants (the event's registrants).
    let js_predict = json!({"eventId": "event-123", "predictionType": "individual", "timeHorizon": "7d",
                            "factors": {"weather": true, "historical": true, "demographics": true}});
    app.post("seed004_post_api_ml_predict_attendance__js_example", "/api/ml/predict-attendance", manager, &js_predict)
        .await;
    let batch = json!({"eventIds": ["event-123", "event-456", "event-789"], "predictionType": "aggregate",
                       "timeHorizon": "30d", "includeIndividual": false});
    app.post("seed004_post_api_ml_batch_predict", "/api/ml/batch-predict", manager, &batch).await;
    let recommendations = json!({
        "type": "event_optimization",
        "context": {"eventId": "event-123", "organizationId": "org-456", "timeframe": "next_month"},
        "focus": ["attendance_optimization", "scheduling", "engagement", "resource_allocation"]
    });
    app.post("seed004_post_api_ml_recommendations", "/api/ml/recommendations", manager, &recommendations).await;
    let js_recommendations = json!({"type": "event_optimization",
        "context": {"eventId": "event-123", "organizationId": "org-456"}, "focus": ["attendance_optimization", "scheduling"]});
    app.post(
        "seed004_post_api_ml_recommendations__js_example",
        "/api/ml/recommendations",
        manager,
        &js_recommendations,
    )
    .await;
    let anomalies = json!({
        "scope": "organization",
        "timeframe": {"start": "2024-02-01T00:00:00Z", "end": "2024-03-15T23:59:59Z"},
        "sensitivity": "medium",
        "categories": ["attendance_drops", "unusual_patterns", "outlier_events", "user_behavior"]
    });
    app.post("seed004_post_api_ml_anomalies", "/api/ml/anomalies", manager, &anomalies).await;
    let js_anomalies = json!({"scope": "organization",
        "timeframe": {"start": "2024-02-01T00:00:00Z", "end": "2024-03-15T23:59:59Z"}, "sensitivity": "medium"});
    app.post("seed004_post_api_ml_anomalies__js_example", "/api/ml/anomalies", manager, &js_anomalies).await;
    let insights = json!({
        "scope": "organization",
        "timeframe": "last_quarter",
        "categories": ["attendance_trends", "user_engagement", "event_performance", "operational_efficiency"],
        "depth": "detailed",
        "includeRecommendations": true
    });
    app.post("seed004_post_api_ml_insights", "/api/ml/insights", manager, &insights).await;
    let factors = json!({
        "eventId": "event-123",
        "factors": ["weather", "day_of_week", "time_of_day", "event_type", "duration", "location", "price",
                    "instructor", "historical_attendance"],
        "analysisType": "correlation"
    });
    app.post("seed004_post_api_ml_analyze_factors", "/api/ml/analyze-factors", manager, &factors).await;
    let mut test = json!({
        "modelId": "model-attendance-pred-v1",
        "testData": {"userId": "user-123", "eventId": "event-456", "eventDate": "2024-03-20T10:00:00Z",
                     "dayOfWeek": "wednesday", "weather": "sunny", "historicalRate": 0.85}
    });
    app.post("seed004_post_api_ml_test_prediction__readme_model_id", "/api/ml/test-prediction", admin, &test).await;
    test["modelId"] = json!(id);
    app.post("seed004_post_api_ml_test_prediction", "/api/ml/test-prediction", admin, &test).await;
    app.get(
        "seed004_get_api_ml_analytics",
        "/api/ml/analytics?period=week&metrics=usage,performance,accuracy",
        manager,
    )
    .await;
    // Roles and errors of the README's table.
    app.post("seed004_post_api_ml_predict_attendance__user_role", "/api/ml/predict-attendance", user, &predict).await;
    app.get("seed004_get_api_ml_models__manager_role", "/api/ml/models", manager).await;
    app.get("seed004_get_api_ml_models_id__unknown", "/api/ml/models/model-attendance-pred-v1", admin).await;
    app.post(
        "seed004_post_api_ml_anomalies__invalid_parameters",
        "/api/ml/anomalies",
        manager,
        &json!({"sensitivity": "extreme"}),
    )
    .await;
    app.post(
        "seed004_post_api_ml_insights__insufficient_data",
        "/api/ml/insights",
        manager,
        &json!({"timeframe": {"start": "2020-01-01T00:00:00Z", "end": "2020-06-01T00:00:00Z"}}),
    )
    .await;
}
