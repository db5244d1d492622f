//! Seed 001, as its README describes it: consent, match tracking with both body forms, the
//! metrics against a hand-computed fixture, the model update loop, and retention.

use std::sync::Arc;
use std::time::Duration;

use footprint::kernel::clock::OffsetClock;
use footprint_analytics::rng::SplitMix64;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

const DAY: Duration = Duration::from_secs(86_400);

/// `requests.post(url, params=…, json=…)` as the README sends it, with the admin's token.
async fn post(app: &TestApp, path: &str, params: &[(&str, &str)], json_body: Option<Value>) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).query(params).bearer_auth(&app.admin_token);
    if let Some(json_body) = json_body {
        request = request.json(&json_body);
    }
    request.send().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.get(path, Some(&app.admin_token)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    body(response).await
}

async fn tracked(response: reqwest::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    let answer = body(response).await;
    assert_eq!(answer["status"], "success", "{answer}");
    answer["event_id"].as_str().unwrap().to_owned()
}

async fn propose(app: &TestApp, user: &str, match_id: &str, score: f64, constraints: Value) -> String {
    let score = score.to_string();
    let params = [("user_id", user), ("match_id", match_id), ("match_score", &score), ("alternatives_count", "3")];
    tracked(
        post(
            app,
            "/api/tracking/event/match-proposed",
            &params,
            Some(json!({"match_parameters": {"weight_skill": 0.5}, "constraint_satisfaction": constraints})),
        )
        .await,
    )
    .await
}

async fn decide(app: &TestApp, user: &str, match_id: &str, accepted: bool, seconds: f64) -> String {
    let (decision, seconds) = (accepted.to_string(), seconds.to_string());
    let params =
        [("user_id", user), ("match_id", match_id), ("decision", &decision), ("decision_time_seconds", &seconds)];
    tracked(post(app, "/api/tracking/event/match-decision", &params, None).await).await
}

async fn feedback(app: &TestApp, user: &str, match_id: &str, rating: u8, aspects: Value) -> String {
    let rating = rating.to_string();
    let params = [("user_id", user), ("match_id", match_id), ("rating", rating.as_str())];
    tracked(post(app, "/api/tracking/event/match-feedback", &params, Some(aspects)).await).await
}

fn close(actual: &Value, expected: f64) -> bool {
    actual.as_f64().is_some_and(|actual| (actual - expected).abs() < 1e-3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_work_as_written() {
    let app = TestApp::spawn().await;
    let consent = post(
        &app,
        "/api/tracking/consent",
        &[("user_id", "user123"), ("analytics", "True"), ("preferences", "False"), ("improvement", "True")],
        None,
    )
    .await;
    assert_eq!(consent.status(), StatusCode::OK);
    let status = get(&app, "/api/tracking/consent/user123").await;
    assert_eq!(status["consent"], json!({"analytics": true, "preferences": false, "improvement": true}));

    let proposed = post(
        &app,
        "/api/tracking/event/match-proposed",
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("match_score", "0.85"),
            ("alternatives_count", "5"),
            ("session_id", "session789"),
        ],
        Some(json!({
            "match_parameters": {"weight_skill": 0.7, "weight_availability": 0.3},
            "constraint_satisfaction": {"location": 0.9, "skills": 0.8, "preferences": 0.7}
        })),
    )
    .await;
    tracked(proposed).await;
    // Python's requests sends True as "True".
    let decision = post(
        &app,
        "/api/tracking/event/match-decision",
        &[("user_id", "user123"), ("match_id", "match456"), ("decision", "True"), ("decision_time_seconds", "30.5")],
        Some(json!({"reasons": ["Compétences pertinentes", "Disponibilité compatible"]})),
    )
    .await;
    tracked(decision).await;
    let feedback = post(
        &app,
        "/api/tracking/event/match-feedback",
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("rating", "4"),
            ("feedback_text", "Très bon matching, les compétences correspondaient parfaitement."),
        ],
        Some(json!({"specific_aspects": {"relevance": 5, "timing": 4, "communication": 3}})),
    )
    .await;
    tracked(feedback).await;

    let stored = app.events_of("user123").await;
    let types: Vec<&str> = stored.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["match_proposed", "match_decision", "match_feedback"]);
    assert_eq!(stored[0]["session_id"], "session789");
    assert_eq!(stored[0]["properties"]["constraint_satisfaction"]["skills"], json!(0.8));
    assert_eq!(stored[1]["properties"]["reasons"][1], "Disponibilité compatible");
    assert_eq!(stored[2]["properties"]["specific_aspects"]["timing"], json!(4));

    let acceptance = get(&app, "/api/metrics/acceptance?days=30").await;
    assert_eq!((acceptance["proposed"].clone(), acceptance["accepted"].clone()), (json!(1), json!(1)));
    assert_eq!(acceptance["acceptance_rate"], json!(1.0));
    assert_eq!(acceptance["period"]["days"], 30);
    let satisfaction = get(&app, "/api/metrics/satisfaction?days=30").await;
    assert_eq!(satisfaction["mean_rating"], json!(4.0));
    assert_eq!(satisfaction["aspects"]["relevance"]["mean"], json!(5.0));
    let constraints = get(&app, "/api/metrics/constraints?days=30").await;
    let names: Vec<&str> =
        constraints["constraints"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["location", "preferences", "skills"]);
    assert_eq!(constraints["constraints"][0]["correlation"], Value::Null, "one match: no correlation");

    let update = post(&app, "/api/ml/update", &[], None).await;
    assert_eq!(update.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let update = body(update).await;
    assert_eq!(update["error"]["code"], "INSUFFICIENT_DATA");
    assert_eq!((update["error"]["needed"].clone(), update["error"]["available"].clone()), (json!(20), json!(1)));

    let cleanup = post(&app, "/api/privacy/cleanup", &[], None).await;
    assert_eq!(cleanup.status(), StatusCode::OK);
    let cleanup = body(cleanup).await;
    assert_eq!(cleanup["status"], "success");
    assert_eq!(cleanup["removed_events"], 0);
    assert_eq!(app.events_of("user123").await.len(), 3, "nothing fresh is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bare_bodies_work_like_wrapped_ones() {
    let app = TestApp::spawn().await;
    app.grant_consent("ana").await;
    let params = [("user_id", "ana"), ("match_id", "m1"), ("decision", "false")];
    tracked(post(&app, "/api/tracking/event/match-decision", &params, Some(json!(["Trop loin", "Salaire"]))).await)
        .await;
    let params = [("user_id", "ana"), ("match_id", "m1"), ("rating", "2")];
    tracked(
        post(&app, "/api/tracking/event/match-feedback", &params, Some(json!({"relevance": 2, "timing": 1}))).await,
    )
    .await;
    let params = [("user_id", "ana"), ("match_id", "m1"), ("view_duration_seconds", "12.5"), ("view_complete", "true")];
    tracked(post(&app, "/api/tracking/event/match-viewed", &params, None).await).await;
    // Without a body at all.
    let params = [("user_id", "ana"), ("match_id", "m2"), ("match_score", "0.4"), ("alternatives_count", "0")];
    tracked(post(&app, "/api/tracking/event/match-proposed", &params, None).await).await;

    let stored = app.events_of("ana").await;
    assert_eq!(stored[0]["properties"]["reasons"], json!(["Trop loin", "Salaire"]));
    assert_eq!(stored[0]["properties"]["decision"], json!(false));
    assert_eq!(stored[1]["properties"]["specific_aspects"], json!({"relevance": 2, "timing": 1}));
    assert_eq!(stored[2]["properties"]["view_complete"], json!(true));
    assert_eq!(stored[3]["properties"]["match_score"], json!(0.4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_match_events_are_refused_with_what_to_fix() {
    let app = TestApp::spawn().await;
    let feedback = |rating: &'static str| [("user_id", "ana"), ("match_id", "m1"), ("rating", rating)];
    // Without analytics consent nothing is stored: 403, as in the seed.
    let refused = post(&app, "/api/tracking/event/match-feedback", &feedback("4"), None).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "CONSENT_REQUIRED");
    assert!(app.events_of("ana").await.is_empty());

    app.grant_consent("ana").await;
    for rating in ["0", "6", "four"] {
        let response = post(&app, "/api/tracking/event/match-feedback", &feedback(rating), None).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "rating {rating}");
    }
    let no_decision =
        post(&app, "/api/tracking/event/match-decision", &[("user_id", "ana"), ("match_id", "m1")], None).await;
    assert_eq!(error_code(no_decision, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let proposal = [("user_id", "ana"), ("match_id", "m1"), ("match_score", "0.5"), ("alternatives_count", "1")];
    let not_numbers = post(
        &app,
        "/api/tracking/event/match-proposed",
        &proposal,
        Some(json!({"constraint_satisfaction": {"skills": "high"}})),
    )
    .await;
    assert_eq!(error_code(not_numbers, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let reasons_not_text = post(
        &app,
        "/api/tracking/event/match-decision",
        &[("user_id", "ana"), ("match_id", "m1"), ("decision", "1")],
        Some(json!({"reasons": [1, 2]})),
    )
    .await;
    assert_eq!(error_code(reasons_not_text, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let not_json = app
        .client
        .post(app.url("/api/tracking/event/match-feedback"))
        .query(&feedback("4"))
        .bearer_auth(&app.admin_token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_json, StatusCode::BAD_REQUEST).await, "INVALID_JSON");
    let days = app.get("/api/metrics/acceptance?days=0", Some(&app.admin_token)).await;
    assert_eq!(error_code(days, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    assert!(app.events_of("ana").await.is_empty(), "nothing refused was stored");
}

/// Five proposals (four decided, three accepted) and three feedbacks, computed by hand in
/// `footprint_analytics::matching`'s tests: acceptance 3/4 with the Wilson interval
/// 0.3006–0.9544, location's correlation with acceptance r = 0.96490 (p = 0.0351).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_match_a_hand_computed_fixture() {
    let app = TestApp::spawn().await;
    for user in ["u1", "u2", "u3"] {
        app.grant_consent(user).await;
    }
    let constraints = |location: f64, skills: f64| json!({"location": location, "skills": skills});
    propose(&app, "u1", "a", 0.9, constraints(0.9, 0.8)).await;
    propose(&app, "u1", "b", 0.8, constraints(0.8, 0.2)).await;
    propose(&app, "u2", "a", 0.7, constraints(0.7, 0.9)).await;
    propose(&app, "u3", "c", 0.4, constraints(0.2, 0.8)).await;
    propose(&app, "u3", "d", 0.5, constraints(0.5, 0.5)).await;
    decide(&app, "u1", "a", true, 10.0).await;
    // A changed mind: the latest decision counts.
    decide(&app, "u1", "b", false, 5.0).await;
    decide(&app, "u1", "b", true, 20.0).await;
    decide(&app, "u2", "a", true, 30.0).await;
    decide(&app, "u3", "c", false, 40.0).await;
    // A decision on a match nobody proposed does not count.
    decide(&app, "u2", "zzz", false, 1.0).await;
    feedback(&app, "u1", "a", 4, json!({"specific_aspects": {"relevance": 5}})).await;
    feedback(&app, "u3", "c", 2, json!({"relevance": 2, "timing": 3})).await;
    feedback(&app, "u2", "a", 5, json!({})).await;

    let acceptance = get(&app, "/api/metrics/acceptance?days=7").await;
    for (field, expected) in [("proposed", 5), ("decided", 4), ("accepted", 3), ("rejected", 1), ("pending", 1)] {
        assert_eq!(acceptance[field], expected, "{field}: {acceptance}");
    }
    assert_eq!(acceptance["acceptance_rate"], json!(0.75));
    assert_eq!(acceptance["decision_rate"], json!(0.8));
    assert!(close(&acceptance["confidence_interval"]["low"], 0.3006), "{acceptance}");
    assert!(close(&acceptance["confidence_interval"]["high"], 0.9544), "{acceptance}");
    assert_eq!(acceptance["confidence_interval"]["level"], json!(0.95));
    assert!(close(&acceptance["mean_decision_time_seconds"], 25.0), "latest decisions: 10, 20, 30, 40");

    let satisfaction = get(&app, "/api/metrics/satisfaction?days=7").await;
    assert_eq!(satisfaction["count"], 3);
    assert!(close(&satisfaction["mean_rating"], 11.0 / 3.0), "{satisfaction}");
    assert!(close(&satisfaction["std_dev"], 1.5275), "sd of 4, 2, 5: {satisfaction}");
    assert_eq!(satisfaction["distribution"], json!({"1": 0, "2": 1, "3": 0, "4": 1, "5": 1}));
    assert_eq!(satisfaction["aspects"]["relevance"], json!({"mean": 3.5, "count": 2}));
    assert_eq!(satisfaction["aspects"]["timing"], json!({"mean": 3.0, "count": 1}));

    let report = get(&app, "/api/metrics/constraints?days=7").await;
    assert_eq!(report["decided"], 4);
    let location = &report["constraints"][0];
    assert_eq!(location["name"], "location");
    assert_eq!(location["sample_size"], 4);
    assert!(close(&location["mean_accepted"], 0.8) && close(&location["mean_rejected"], 0.2), "{location}");
    assert!(close(&location["correlation"], 0.96490), "{location}");
    assert!(close(&location["p_value"], 0.0351), "{location}");
    let skills = &report["constraints"][1];
    // x = [0.8, 0.2, 0.9, 0.8], y = [1, 1, 1, 0]: Sxy = −0.125, Sxx = 0.3075, Syy = 0.75 → r = −0.2603.
    assert!(close(&skills["correlation"], -0.2603), "{skills}");
    assert!(close(&report["match_score"]["correlation"], 0.92582), "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_update_learns_which_constraint_drives_acceptance() {
    // Validation rows are picked by a hash of the user's pseudonym: fixed secrets, fixed split.
    let app = TestApp::spawn_with(crate::helpers::fixed_secrets).await;
    app.grant_consent("learner").await;
    // This user's matches would contradict the pattern, but they refused `improvement`.
    let refused = post(
        &app,
        "/api/tracking/consent",
        &[("user_id", "refuser"), ("analytics", "true"), ("improvement", "false")],
        None,
    )
    .await;
    assert_eq!(refused.status(), StatusCode::OK);
    let mut rng = SplitMix64::new(7);
    for n in 0..160 {
        let (location, skills, preferences) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
        let score = (location + skills + preferences) / 3.0;
        // Acceptance depends on skills only (with some noise).
        let accepted = skills + 0.2 * (rng.next_f64() - 0.5) > 0.5;
        let constraints = json!({"location": location, "skills": skills, "preferences": preferences});
        propose(&app, "learner", &format!("m{n}"), score, constraints).await;
        decide(&app, "learner", &format!("m{n}"), accepted, 10.0).await;
    }
    for n in 0..20 {
        propose(&app, "refuser", &format!("r{n}"), 0.5, json!({"location": 0.9, "skills": 0.1, "preferences": 0.5}))
            .await;
        decide(&app, "refuser", &format!("r{n}"), true, 10.0).await;
    }

    let response = post(&app, "/api/ml/update", &[], None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let update = body(response).await;
    assert_eq!(update["status"], "success");
    assert_eq!(update["model"]["name"], "match_optimizer");
    assert_eq!(update["model"]["version"], 1);
    assert_eq!(update["rows_used"], 160);
    assert_eq!(update["rows_without_consent"], 20);
    let weight = |name: &str| update["standardized_weights"][name].as_f64().unwrap();
    assert!(weight("skills") > 2.0 * weight("location").abs(), "{update}");
    assert!(weight("skills") > 2.0 * weight("preferences").abs(), "{update}");
    assert!(weight("skills") > 0.0);
    let validation = &update["metrics"]["validation"];
    assert!(validation["accuracy"].as_f64().unwrap() > 0.8, "{update}");
    assert!(validation["n"].as_u64().unwrap() > 10, "a fifth of the rows validate: {update}");

    let again = body(post(&app, "/api/ml/update", &[], None).await).await;
    assert_eq!(again["model"]["version"], 2, "each refit is a new version");
    let models = app.state.store.models(footprint_store::ModelFilter::default()).await.unwrap();
    assert_eq!(models.len(), 2);
    assert!(models.iter().all(|m| m.status == "ready" && m.rows_used == 160));
}

async fn cleanup_keeps_fresh_rows_and_metrics(postgres: bool) {
    let clock = Arc::new(OffsetClock::default());
    let mut app = TestApp::spawn_with_clock(postgres, clock.clone()).await;
    app.grant_consent("ana").await;
    // 100 days ago (the clock moves forward below): one accepted match, its feedback, a click.
    propose(&app, "ana", "old", 0.9, json!({"skills": 0.9})).await;
    decide(&app, "ana", "old", true, 12.0).await;
    feedback(&app, "ana", "old", 5, json!({"relevance": 5})).await;
    let click = app.track(&app.admin_token, &json!({"user_id": "ana", "type": "click"})).await;
    assert!(click.status().is_success());
    clock.advance(100 * DAY);
    // Tokens expire on the server's clock: the admin logs in again.
    app.admin_token = app.login_ok(crate::helpers::ADMIN, crate::helpers::ADMIN_PASSWORD).await;
    // Today: a rejected match and a page view.
    propose(&app, "ana", "new", 0.3, json!({"skills": 0.2})).await;
    decide(&app, "ana", "new", false, 8.0).await;
    let view = app.track(&app.admin_token, &json!({"user_id": "ana", "type": "page_view"})).await;
    assert!(view.status().is_success());
    // Processing must have seen the events before they may go.
    app.state.processor.catch_up(Duration::from_secs(10)).await.unwrap();

    let before = get(&app, "/api/metrics/acceptance?days=365").await;
    let cleanup = post(&app, "/api/privacy/cleanup", &[], None).await;
    assert_eq!(cleanup.status(), StatusCode::OK);
    let cleanup = body(cleanup).await;
    assert_eq!(cleanup["removed_events"], 4, "{cleanup}");
    assert_eq!(cleanup["aggregated_matches"], 1, "{cleanup}");
    assert_eq!(cleanup["aggregated_feedback"], 1, "{cleanup}");
    let left: Vec<String> = app.events_of("ana").await.iter().map(|e| e["type"].as_str().unwrap().to_owned()).collect();
    assert_eq!(left, ["match_proposed", "match_decision", "page_view"]);

    // The metrics still count what was folded.
    let after = get(&app, "/api/metrics/acceptance?days=365").await;
    for field in ["proposed", "decided", "accepted"] {
        assert_eq!(after[field], before[field], "{field}: {before} then {after}");
    }
    assert_eq!(after["accepted"], 1);
    let satisfaction = get(&app, "/api/metrics/satisfaction?days=365").await;
    assert_eq!(satisfaction["count"], 1);
    assert_eq!(satisfaction["aspects"]["relevance"]["mean"], json!(5.0));
    // The last 30 days leave the old match out.
    let recent = get(&app, "/api/metrics/acceptance?days=30").await;
    assert_eq!((recent["proposed"].clone(), recent["accepted"].clone()), (json!(1), json!(0)));

    let again = body(post(&app, "/api/privacy/cleanup", &[], None).await).await;
    assert_eq!(again["removed_events"], 0);
    assert_eq!(get(&app, "/api/metrics/acceptance?days=365").await["proposed"], 2, "folded once only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_exactly_the_expired_rows_on_sqlite() {
    cleanup_keeps_fresh_rows_and_metrics(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_exactly_the_expired_rows_on_postgres() {
    cleanup_keeps_fresh_rows_and_metrics(true).await;
}
