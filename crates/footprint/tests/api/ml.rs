//! Seed 004's `/api/ml` routes on generated attendance with known effects: Tuesday +15 points,
//! rain −10 points, one user in five at a much lower rate.

use std::time::Duration;

use footprint_analytics::Role;
use footprint_analytics::attendance::synthetic;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

const DAY_US: i64 = 86_400_000_000;
/// Monday 2025-01-06 00:00 UTC.
const MONDAY: i64 = 1_736_121_600_000_000;

fn rfc3339(us: i64) -> String {
    footprint::kernel::clock::rfc3339(us)
}

/// The generated history of `footprint_analytics::attendance::synthetic` (40 weeks of classes on
/// Monday, Tuesday and Thursday at 18h, seed 11), moved to start on `MONDAY`, with a planted
/// drop: nobody came to the Tuesday class of week 15. As import lines.
fn history() -> String {
    let (events, mut registrations) = synthetic::weekly_classes(40, 11);
    for registration in registrations.iter_mut().filter(|r| r.event_id == "e15-1") {
        registration.attended = Some(false);
    }
    footprint::attendance::import::import_lines(&events, &registrations, "Cours", MONDAY - synthetic::MONDAY).join("\n")
}

async fn wait_ready(app: &TestApp, id: &str) -> Value {
    for _ in 0..300 {
        let model = body(app.get(&format!("/api/ml/models/{id}"), Some(&app.admin_token)).await).await;
        if model["data"]["status"] != "training" {
            return model["data"].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the model is still training after 30 s");
}

/// An instance on the Monday after the generated history: a run that failed for lack of data,
/// the history imported, the seed's training request served by a ready model, and a Tuesday
/// class next week (`next-tuesday`, starting at `next`) with no registration yet.
struct Trained {
    app: TestApp,
    admin: String,
    manager: String,
    user: String,
    model: Value,
    failed_id: String,
    next: i64,
}

/// A fresh instance whose clock stands on the Monday after the 40 weeks of history, with an
/// admin's, a manager's and a user's tokens.
async fn on_the_monday_after() -> (TestApp, String, String, String) {
    let clock = std::sync::Arc::new(footprint::kernel::clock::OffsetClock::starting_at(
        MONDAY + 40 * 7 * DAY_US + 3_600_000_000,
    ));
    let app = TestApp::spawn_with_clock(false, clock).await;
    let admin = app.admin_token.clone();
    let manager = app.user_with_role("manon", Role::Manager).await;
    let user = app.user_with_role("ulysse", Role::User).await;
    (app, admin, manager, user)
}

async fn trained() -> Trained {
    let (app, admin, manager, user) = on_the_monday_after().await;

    let failed_id = failed_run(&app).await;

    let import = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&admin)
        .header("content-type", "application/x-ndjson")
        .body(history())
        .send()
        .await
        .unwrap();
    assert_eq!(body(import).await["events_imported"], 120);

    // The seed's request, as written.
    let seed_request = json!({"modelType": "attendance_predictor", "version": "1.4.0",
        "trainingData": {"startDate": "2023-01-01T00:00:00Z", "endDate": "2026-03-15T23:59:59Z", "includeWeather": true,
                         "includeHolidays": true, "minDataPoints": 1000},
        "hyperparameters": {"learningRate": 0.001, "epochs": 100, "batchSize": 32}, "validationSplit": 0.2});
    let started = app.post_json("/api/ml/models/train", Some(&admin), &seed_request).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let started = body(started).await;
    assert_eq!(started["data"]["status"], "training");
    // The id under the model list's name (`id`) and the performance answer's (`modelId`).
    assert_eq!(started["data"]["id"], started["data"]["modelId"]);
    let model = wait_ready(&app, started["data"]["modelId"].as_str().unwrap()).await;
    assert_eq!(model["status"], "ready", "{model}");
    assert_eq!(model["id"], started["data"]["id"]);
    assert_eq!(model["version"], 2);

    // A Tuesday class next week.
    let next = MONDAY + (40 * 7 + 1) * DAY_US + 18 * 3_600_000_000;
    let event = json!({"id": "next-tuesday", "name": "Cours", "type": "class", "start": rfc3339(next), "duration_minutes": 60, "price": 10.0});
    assert_eq!(app.post_json("/api/v1/attendance/events", Some(&admin), &event).await.status(), StatusCode::CREATED);
    Trained { app, admin, manager, user, model, failed_id, next }
}

/// Before any model: health says so, predictions answer MODEL_NOT_FOUND, a run on too little data fails with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_training_the_routes_say_there_is_no_model() {
    let (app, admin, manager, user) = on_the_monday_after().await;

    // Before any training: health lists no model, prediction says MODEL_NOT_FOUND.
    let health = body(app.get("/api/ml/health", Some(&user)).await).await;
    assert_eq!(health["success"], true);
    assert_eq!(health["data"]["status"], "operational");
    let no_model = app.post_json("/api/ml/predict-attendance", Some(&manager), &json!({"eventId": "e0-0"})).await;
    assert_eq!(error_code(no_model, StatusCode::NOT_FOUND).await, "MODEL_NOT_FOUND");
    let unknown = app.get("/api/ml/models/model-nope", Some(&admin)).await;
    assert_eq!(error_code(unknown, StatusCode::NOT_FOUND).await, "MODEL_NOT_FOUND");

    // Too little data: refused at once with how much is needed, and nothing is registered.
    let refused = app.post_json("/api/ml/models/train", Some(&admin), &json!({})).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(refused).await;
    assert_eq!(refused["error"]["code"], "INSUFFICIENT_DATA");
    assert_eq!((refused["error"]["needed"].as_u64(), refused["error"]["available"].as_u64()), (Some(50), Some(0)));
    let listed = body(app.get("/api/ml/models", Some(&admin)).await).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "no run was registered: {listed}");

    // A run that failed (as one does when the users who refused `improvement` leave too few):
    // health shows it, and predictions still have no model.
    failed_run(&app).await;
    let health = body(app.get("/api/ml/health", Some(&user)).await).await;
    assert_eq!(health["data"]["models"]["attendance_predictor"]["status"], "error");
    assert_eq!(health["data"]["services"]["prediction"], "no_model");
}

/// Registers a run that ended in `error`, as the registry keeps one; returns its id.
async fn failed_run(app: &TestApp) -> String {
    let now_us = app.state.clock.now_us();
    let run = footprint_store::ModelRecord {
        error: Some("training needs at least 50 registrations with a known outcome; there are 12".to_owned()),
        trained_at_us: Some(now_us),
        ..footprint_store::ModelRecord::registered(
            "model-failed",
            "attendance_predictor",
            "attendance_predictor",
            "error",
            now_us,
        )
    };
    app.state.store.create_model(run).await.unwrap().model_id
}

/// The seed's training request: the version that serves, its accuracy for everyone and its figures for staff, what was ignored, the planted effects in its weights.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trained_version_serves_with_its_figures() {
    let Trained { app, manager, user, model, .. } = trained().await;
    // Health shows the version that serves, with its accuracy; predictions are operational.
    let health = body(app.get("/api/ml/health", Some(&user)).await).await;
    let predictor = &health["data"]["models"]["attendance_predictor"];
    assert_eq!((predictor["status"].as_str(), predictor["version"].as_i64()), (Some("ready"), Some(2)), "{health}");
    assert!(predictor["accuracy"].as_f64().unwrap() > 0.6, "{predictor}");
    assert_eq!(predictor["accuracy"], model["metrics"]["validation"]["accuracy"]);
    assert!(predictor.get("metrics").is_none(), "figures beyond the status are for staff");
    let staff_view = body(app.get("/api/ml/health", Some(&manager)).await).await;
    let staff_predictor = &staff_view["data"]["models"]["attendance_predictor"];
    assert!(staff_predictor["metrics"]["roc_auc"].as_f64().unwrap() >= 0.7);
    assert_eq!(health["data"]["services"]["prediction"], "operational");
    let auc = model["metrics"]["validation"]["roc_auc"].as_f64().unwrap();
    assert!(auc >= 0.7, "AUC on the latest fifth of the events: {auc}");
    let ignored = model["hyperparameters"]["ignored"].as_array().unwrap();
    assert!(
        ignored.iter().any(|i| i == "hyperparameters.learningRate")
            && ignored.iter().any(|i| i == "trainingData.includeHolidays")
    );
    let importance = model["metrics"]["featureImportance"].as_array().unwrap();
    let weight = |name: &str| importance.iter().find(|f| f["feature"] == name).unwrap()["weight"].as_f64().unwrap();
    assert!(weight("day_tuesday") > 0.0 && weight("bad_weather") < 0.0, "{importance:?}");
}

/// Each registrant's probability with its interval and advice; the event's expected attendance with its interval; a given past rate replaces the recorded one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_per_person_and_overall() {
    let Trained { app, manager, model, next, .. } = trained().await;
    let predicted = app
        .post_json(
            "/api/ml/predict-attendance",
            Some(&manager),
            &json!({"eventId": "next-tuesday", "predictionType": "individual",
                    "participants": [{"userId": "u1", "registrationDate": rfc3339(next - 2 * DAY_US)},
                                     {"userId": "u5", "registrationDate": rfc3339(next - 2 * DAY_US)},
                                     {"userId": "u2"}]}),
        )
        .await;
    assert_eq!(predicted.status(), StatusCode::OK);
    let predicted = body(predicted).await;
    assert_eq!(predicted["success"], true);
    let data = &predicted["data"];
    let individual = data["individual"].as_array().unwrap();
    let p = |user: &str| {
        individual.iter().find(|i| i["userId"] == user).unwrap()["attendanceProbability"].as_f64().unwrap()
    };
    assert!(p("u1") > p("u5") + 0.3, "a regular against a low-rate user: {data}");
    for person in individual {
        let probability = person["attendanceProbability"].as_f64().unwrap();
        assert_eq!(person["confidence"].as_f64().unwrap(), probability.max(1.0 - probability));
        let interval = &person["probabilityInterval"];
        assert!(interval["low"].as_f64().unwrap() < probability && probability < interval["high"].as_f64().unwrap());
    }
    let sum: f64 = individual.iter().map(|i| i["attendanceProbability"].as_f64().unwrap()).sum();
    let overall = &data["overall"];
    assert!((overall["expectedAttendance"].as_f64().unwrap() - sum).abs() < 1e-9);
    assert!(
        overall["interval"]["low"].as_f64().unwrap() <= sum && sum <= overall["interval"]["high"].as_f64().unwrap()
    );
    assert_eq!(overall["totalRegistered"], 3);
    let key_factors = data["insights"]["keyFactors"].as_array().unwrap();
    let tuesday = key_factors.iter().find(|f| f["factor"] == "day_tuesday").expect("Tuesday is a key factor");
    assert!(tuesday["impact"].as_f64().unwrap() > 0.0, "{key_factors:?}");
    let low_user = individual.iter().find(|i| i["userId"] == "u5").unwrap();
    assert!(low_user["riskFactors"].as_array().unwrap().iter().any(|r| r == "historical_rate"), "{low_user}");
    assert!(low_user["recommendations"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("reminder")));
    assert!(
        data["insights"]["recommendations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("no-shows"))
    );
    assert!(data["predictionId"].as_str().unwrap().starts_with("pred-"));
    // A participant's given past rate (the seed's `previousAttendance`) replaces the recorded one.
    let given =
        |rate: f64| json!({"eventId": "next-tuesday", "participants": [{"userId": "u5", "previousAttendance": rate}]});
    let high = body(app.post_json("/api/ml/predict-attendance", Some(&manager), &given(0.95)).await).await;
    let low = body(app.post_json("/api/ml/predict-attendance", Some(&manager), &given(0.05)).await).await;
    let first = |v: &Value| v["data"]["individual"][0]["attendanceProbability"].as_f64().unwrap();
    assert!(first(&high) > first(&low) + 0.2, "{high} {low}");
    let out_of_range = app.post_json("/api/ml/predict-attendance", Some(&manager), &given(1.5)).await;
    assert_eq!(error_code(out_of_range, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    // The seed's example reads `overall.confidence`: the mass of the interval, at least its level.
    assert!(overall["confidence"].as_f64().unwrap() >= overall["interval"]["level"].as_f64().unwrap() - 1e-12);
    assert_eq!(data["model"]["id"], model["id"]);
}

/// The trained model's performance on its held-out events, under our names and the seed's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn performance_by_month_and_segment() {
    let Trained { app, manager, model, .. } = trained().await;
    let id = model["id"].as_str().unwrap();
    let performance = body(app.get(&format!("/api/ml/models/{id}/performance"), Some(&manager)).await).await;
    let performance = &performance["data"]["performance"];
    assert!(performance["overall"]["roc_auc"].as_f64().unwrap() >= 0.7, "{performance}");
    assert!(performance["overall"]["confusion"]["tp"].as_u64().unwrap() > 0);
    assert!(performance["byMonth"].as_object().unwrap().len() >= 2, "the last fifth spans several months");
    let months_total: u64 =
        performance["byMonth"].as_object().unwrap().values().map(|m| m["n"].as_u64().unwrap()).sum();
    assert_eq!(months_total, performance["evaluatedOn"].as_u64().unwrap());
    // The seed's names beside ours.
    assert_eq!(performance["overall"]["auc"], performance["overall"]["roc_auc"]);
    assert!(performance["overall"]["f1Score"].as_f64().unwrap() > 0.5);
    assert_eq!(performance["overall"]["f1Score"], performance["overall"]["f1"]);
    let matrix: u64 = performance["confusionMatrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| row.as_array().unwrap().iter().map(|n| n.as_u64().unwrap()))
        .sum();
    assert_eq!(matrix, performance["evaluatedOn"].as_u64().unwrap());
    assert_eq!(performance["confusionMatrix"][1][1], performance["overall"]["confusion"]["tp"]);
    assert!(!performance["featureImportance"].as_array().unwrap().is_empty());
    assert!(performance.get("afterTraining").is_none(), "no outcome has arrived since training");

    // Outcomes arrive for an event after the training window (which ends 2026-03-15T23:59:59Z):
    // the model card scores them with the served model, apart from the validation window.
    let registrations: Vec<Value> = (0..12)
        .map(|n| json!({"user_id": format!("later-{n}"), "registered_at": "2026-03-10T08:00:00Z", "attended": n % 3 != 0}))
        .collect();
    let later = json!({"id": "after-1", "name": "Cours", "type": "class", "start": "2026-03-17T18:00:00Z",
        "duration_minutes": 60, "registrations": registrations});
    let imported = app
        .client
        .post(app.url("/api/v1/attendance/import"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/x-ndjson")
        .body(later.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(body(imported).await["registrations_imported"], 12);
    let again = body(app.get(&format!("/api/ml/models/{id}/performance"), Some(&manager)).await).await;
    let again = &again["data"]["performance"];
    assert_eq!(again["evaluatedOn"], performance["evaluatedOn"], "the validation window is unchanged");
    let after = &again["afterTraining"];
    assert_eq!(after["evaluatedOn"], 12, "{after}");
    assert!(after["from"].as_str().unwrap().starts_with("2026-03-15T23:59:59"), "{after}");
    assert_eq!(after["overall"]["n"], 12);
    let binned: u64 = after["calibration"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(binned, 12);
    let missing = app.get("/api/ml/models/model-nope/performance", Some(&manager)).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "MODEL_NOT_FOUND");
}

/// The planted factors (Tuesday, rain), found with the right sign, in seed 004's shape: one entry per
/// requested factor with its rates under the seed's keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_factor_analysis_finds_the_planted_effects() {
    let Trained { app, manager, .. } = trained().await;
    // The planted factors, found with the right sign.
    let seed_request = json!({"eventId": "next-tuesday", "factors": ["weather", "day_of_week", "time_of_day", "event_type",
        "duration", "location", "price", "instructor", "historical_attendance"], "analysisType": "correlation"});
    let factors = body(app.post_json("/api/ml/analyze-factors", Some(&manager), &seed_request).await).await;
    let data = &factors["data"];
    // One entry per requested factor, in the seed's shape.
    let names: Vec<&str> = data["factors"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "weather",
            "day_of_week",
            "time_of_day",
            "event_type",
            "duration",
            "location",
            "price",
            "instructor",
            "historical_attendance"
        ]
    );
    assert_eq!(data["eventId"], "next-tuesday");
    let factor = |name: &str| data["factors"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap().clone();
    let days = factor("day_of_week");
    assert_eq!(days["measure"], "eta");
    assert!(days["correlation"].as_f64().unwrap() > 0.0 && days["significance"].as_f64().unwrap() < 0.01, "{days}");
    let rate = |values: &Value, key: &str| values[key].as_f64().unwrap_or_else(|| panic!("no {key} in {values}"));
    let values = &days["values"];
    assert_eq!(values.as_object().unwrap().keys().collect::<Vec<_>>(), ["monday", "tuesday", "thursday"]);
    assert!(rate(values, "tuesday") > rate(values, "monday") && rate(values, "tuesday") > rate(values, "thursday"));
    assert!(days["description"].as_str().unwrap().starts_with("Tuesday events have the highest attendance"), "{days}");
    assert!(["high", "medium"].contains(&days["impact"].as_str().unwrap()), "{days}");
    let weather = factor("weather");
    assert_eq!(weather["measure"], "pearson");
    assert!(
        weather["correlation"].as_f64().unwrap() < 0.0 && weather["significance"].as_f64().unwrap() < 0.01,
        "{weather}"
    );
    let conditions = &weather["conditions"];
    assert!(rate(conditions, "rainy") < rate(conditions, "sunny"), "{conditions}");
    // Every class starts at 18h: one slot, so nothing to measure, and said so.
    let slots = factor("time_of_day");
    assert_eq!(slots["timeSlots"].as_object().unwrap().keys().collect::<Vec<_>>(), ["17:00-19:00"]);
    assert_eq!(slots["correlation"], Value::Null);
    assert!(slots["description"].as_str().unwrap().starts_with("Not enough variation in time of day"), "{slots}");
    // Levels' counts add up to the registrations where the factor is known.
    let counted: u64 = days["levels"].as_array().unwrap().iter().map(|l| l["registrations"].as_u64().unwrap()).sum();
    assert_eq!(counted, days["sampleSize"].as_u64().unwrap());
    assert_eq!(days["sampleSize"], data["examples"]);
    assert!(factor("price")["ranges"].is_object() && factor("historical_attendance")["ranges"].is_object());
    let model = &data["model"];
    assert!(model["p_value"].as_f64().unwrap() < 0.01, "{model}");
    let (r2, adjusted) = (model["r_squared"].as_f64().unwrap(), model["adjusted_r_squared"].as_f64().unwrap());
    assert!(r2 > 0.0 && adjusted < r2 && model["f_statistic"].as_f64().unwrap() > 1.0, "{model}");
    let advice = data["recommendations"].as_array().unwrap();
    assert!(advice.iter().any(|a| a.as_str().unwrap().starts_with("Schedule events on tuesday")), "{advice:?}");
    assert!(advice.iter().any(|a| a.as_str().unwrap().contains("before rainy")), "{advice:?}");
    // An unknown factor is refused with the valid names.
    let unknown =
        app.post_json("/api/ml/analyze-factors", Some(&manager), &json!({"factors": ["weather", "moon"]})).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    let unknown = body(unknown).await;
    assert_eq!(unknown["error"]["code"], "INVALID_PARAMETERS");
    let message = unknown["error"]["message"].as_str().unwrap();
    assert!(message.contains("moon") && message.contains("weather, day_of_week, time_of_day"), "{message}");
    let wrong_kind = app.post_json("/api/ml/analyze-factors", Some(&manager), &json!({"analysisType": "causal"})).await;
    assert_eq!(error_code(wrong_kind, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
}

/// The planted drop, flagged with high severity; the normal weeks around it are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomalies_flag_the_planted_drop_only() {
    let Trained { app, manager, .. } = trained().await;
    // The planted drop, flagged with high severity; the normal weeks around it are not.
    let timeframe = json!({"start": rfc3339(MONDAY + 10 * 7 * DAY_US), "end": rfc3339(MONDAY + 20 * 7 * DAY_US)});
    let found = body(
        app.post_json(
            "/api/ml/anomalies",
            Some(&manager),
            &json!({"scope": "organization", "timeframe": timeframe, "sensitivity": "medium",
                    "categories": ["attendance_drops", "unusual_patterns", "outlier_events", "user_behavior"]}),
        )
        .await,
    )
    .await;
    let data = &found["data"];
    let events: Vec<&Value> =
        data["anomalies"].as_array().unwrap().iter().filter(|a| a.get("event").is_some()).collect();
    let drop = events.iter().find(|a| a["event"]["id"] == "e15-1").expect("the planted drop");
    assert_eq!((drop["type"].as_str(), drop["severity"].as_str()), (Some("attendance_drop"), Some("high")), "{drop}");
    assert!(drop["metrics"]["zScore"].as_f64().unwrap() < -4.0);
    assert!(drop["confidence"].as_f64().unwrap() > 0.9999);
    // Nobody came: every expected attendee is missing.
    assert_eq!(drop["metrics"]["attendees"], 0);
    let expected = drop["metrics"]["expectedAttendees"].as_f64().unwrap();
    assert_eq!(drop["impact"]["affectedUsers"].as_f64().unwrap(), expected.round());
    // At medium sensitivity (|z| ≥ 2.5) about 30 × 1.24 % = 0.4 of the 30 normal events would be
    // flagged by chance; on this seeded history none is.
    assert_eq!(events.len(), 1, "normal events stay unflagged: {events:?}");
    assert!((data["summary"]["falsePositiveRate"].as_f64().unwrap() - 0.0124).abs() < 1e-3);
    let bad = app.post_json("/api/ml/anomalies", Some(&manager), &json!({"sensitivity": "extreme"})).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
}

/// The planted best day; and room sizing for next Tuesday's registrants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_name_the_best_day_and_size_the_room() {
    let Trained { app, admin, manager, next, .. } = trained().await;
    // The planted best day; and room sizing for next Tuesday's registrants.
    for user in ["u1", "u2", "u3", "u5"] {
        let registration = json!({"user_id": user, "registered_at": rfc3339(next - 2 * DAY_US)});
        let response =
            app.post_json("/api/v1/attendance/events/next-tuesday/registrations", Some(&admin), &registration).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let advice = body(
        app.post_json(
            "/api/ml/recommendations",
            Some(&manager),
            &json!({"type": "event_optimization", "context": {"eventId": "next-tuesday", "organizationId": "org-456",
                    "timeframe": "next_month"}, "focus": ["attendance_optimization", "scheduling", "engagement", "resource_allocation"]}),
        )
        .await,
    )
    .await;
    let list = advice["data"]["recommendations"].as_array().unwrap();
    let day =
        list.iter().find(|r| r["category"] == "scheduling" && r["title"].as_str().unwrap().contains("day")).unwrap();
    assert!(day["title"].as_str().unwrap().ends_with("tuesday"), "{day}");
    assert!(day["confidence"].as_f64().unwrap() > 0.99);
    // The seed's example prints `impact.expectedImprovement`: Tuesday's lead over the other days.
    let lead = day["impact"]["expectedImprovement"].as_f64().unwrap();
    assert!((lead - day["impact"]["difference"].as_f64().unwrap()).abs() < 1e-12 && lead > 0.05, "{day}");
    assert!(list.iter().any(|r| r["category"] == "engagement"), "the low-rate group: {list:?}");
    let room = list.iter().find(|r| r["category"] == "resource_allocation").expect("room sizing");
    // The mass of the prediction interval the advice rests on, measured: at least its level.
    assert!(room["confidence"].as_f64().unwrap() >= 0.9, "{room}");
    let summary = &advice["data"]["summary"];
    assert_eq!(summary["totalRecommendations"].as_u64().unwrap(), list.len() as u64);
    let by_priority: u64 =
        ["highPriority", "mediumPriority", "lowPriority"].iter().map(|k| summary[*k].as_u64().unwrap()).sum();
    assert_eq!(by_priority, list.len() as u64);
    assert_eq!(day["impact"]["confidence"], day["confidence"]);
    assert!(day["evidence"]["dataPoints"].as_u64().unwrap() > 100);
    assert_eq!(day["evidence"]["dataPoints"], day["evidence"]["registrations"]);
}

/// Predictions for managers, the registry for admins; listing by status, type and family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_by_role_status_and_family() {
    let Trained { app, admin, manager, user, .. } = trained().await;
    // Roles: predictions for managers, the registry for admins.
    let refused = app.post_json("/api/ml/predict-attendance", Some(&user), &json!({"eventId": "next-tuesday"})).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert_eq!(error_code(app.get("/api/ml/models", Some(&manager)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let models = body(app.get("/api/ml/models?status=ready&type=attendance_predictor", Some(&admin)).await).await;
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    let predictors = body(app.get("/api/ml/models?status=ready&type=predictor", Some(&admin)).await).await;
    let listed = &predictors["data"][0];
    assert_eq!(predictors["data"].as_array().unwrap().len(), 1);
    assert!(listed["metrics"]["accuracy"].as_f64().unwrap() > 0.6);
    assert_eq!(listed["metrics"]["accuracy"], listed["metrics"]["validation"]["accuracy"]);
    assert!(listed["training"]["features"].as_u64().unwrap() >= 15);
    let detectors = body(app.get("/api/ml/models?type=detector", Some(&admin)).await).await;
    assert_eq!(detectors["data"].as_array().unwrap().len(), 0);
    let bad = app.post_json("/api/ml/models/train", Some(&admin), &json!({"validationSplit": 0.9})).await;
    assert_eq!(error_code(bad, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
}

/// Insights, batch and test predictions and the service's analytics on the trained model (`ml_insights`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_batch_and_test_predictions() {
    let Trained { app, admin, manager, user, model, failed_id, next } = trained().await;
    // Next Tuesday's registrants, as the recommendations test has them.
    for user in ["u1", "u2", "u3", "u5"] {
        let registration = json!({"user_id": user, "registered_at": rfc3339(next - 2 * DAY_US)});
        let response =
            app.post_json("/api/v1/attendance/events/next-tuesday/registrations", Some(&admin), &registration).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let id = model["id"].as_str().unwrap();
    let tokens = crate::ml_insights::Tokens { admin: &admin, manager: &manager, user: &user };
    crate::ml_insights::check(&app, tokens, id, &failed_id, 0).await;
}

/// The model and attendance charts agree with the performance route and the records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_charts_draw_the_held_out_registrations() {
    let Trained { app, manager, model, .. } = trained().await;
    let id = model["id"].as_str().unwrap();
    let chart = |path: String| {
        let (app, manager) = (&app, &manager);
        async move {
            let response = app.get(&path, Some(manager)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            response.text().await.unwrap()
        }
    };
    let values = |svg: &str| -> Vec<f64> {
        svg.split("data-value=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap()).collect()
    };
    let performance = body(app.get(&format!("/api/ml/models/{id}/performance"), Some(&manager)).await).await;
    let evaluated = performance["data"]["performance"]["evaluatedOn"].as_f64().unwrap();
    let confusion = chart(format!("/api/visualizations/model_confusion_matrix?model_id={id}")).await;
    assert_eq!(values(&confusion).iter().sum::<f64>(), evaluated, "the cells add up to the held-out registrations");
    assert_eq!(values(&confusion)[3], performance["data"]["performance"]["confusionMatrix"][1][1].as_f64().unwrap());
    let roc = chart("/api/visualizations/model_roc_curve".to_owned()).await;
    let auc = performance["data"]["performance"]["overall"]["auc"].as_f64().unwrap();
    assert!(roc.contains(&format!("AUC {auc:.3}")), "the latest ready model by default");
    assert!(values(&roc).len() > 10 && roc.contains("class=\"reference\""));
    let calibration = chart(format!("/api/visualizations/model_calibration?model_id={id}")).await;
    let observed = values(&calibration);
    assert!(!observed.is_empty() && observed.len() <= 10 && observed.iter().all(|v| (0.0..=1.0).contains(v)));
    // Classes on Monday, Tuesday and Thursday at 18h: three cells, Tuesday's the best.
    let slots = chart("/api/visualizations/attendance_by_weekday_slot".to_owned()).await;
    let rates = values(&slots);
    assert_eq!(rates.len(), 3, "{slots}");
    assert!(rates[1] > rates[0] && rates[1] > rates[2], "{rates:?}");
    // To look at them: FOOTPRINT_CHARTS_OUT=dir cargo test -p footprint --test api the_model_charts.
    if let Ok(dir) = std::env::var("FOOTPRINT_CHARTS_OUT") {
        for name in ["model_roc_curve", "model_calibration", "model_confusion_matrix", "attendance_by_weekday_slot"] {
            let path = format!("/api/visualizations/{name}?format=png&width=640&height=400");
            std::fs::write(format!("{dir}/{name}.png"), app.get(&path, Some(&manager)).await.bytes().await.unwrap())
                .unwrap();
        }
    }
    let missing = app.get("/api/visualizations/model_roc_curve?model_id=model-nope", Some(&manager)).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "MODEL_NOT_FOUND");
}

/// `footprint init-model` (seed 001's `python init_model.py`) through the binary: on an empty
/// store it records an empty version saying why, then leaves it; on the demo's matches it fits.
#[test]
fn init_model_records_why_it_cannot_fit_then_fits_when_there_are_matches() {
    use crate::durability::footprint;
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = footprint(dir.path(), &["init-model"]);
    assert!(ok, "{text}");
    assert!(text.contains("version 1 recorded empty") && text.contains("decided matches"), "{text}");
    let (ok, text) = footprint(dir.path(), &["init-model"]);
    assert!(ok && text.contains("version 1 exists (empty); nothing to do"), "{text}");

    let (ok, text) = footprint(dir.path(), &["demo", "--users", "60", "--force"]);
    assert!(ok, "{text}");
    let (ok, text) = footprint(dir.path(), &["init-model", "--force"]);
    assert!(ok, "{text}");
    assert!(text.contains("fitted on") && text.contains("decided matches: {"), "{text}");
}
