//! Snapshots: seed 001: consent, match events, metrics, model update, cleanup.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed001_tracking_routes() {
    let mut app = Snap::start(NOON).await;
    let admin = app.admin_token.clone();
    let token = Some(admin.as_str());
    // The README sends no credentials.
    let readme_consent =
        [("user_id", "user123"), ("analytics", "True"), ("preferences", "False"), ("improvement", "True")];
    app.post_params(
        "seed001_post_api_tracking_consent__without_token",
        "/api/tracking/consent",
        None,
        &readme_consent,
        None,
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance__without_token", "/api/metrics/acceptance?days=30", None).await;
    // Python's requests sends True as "True".
    app.post_params("seed001_post_api_tracking_consent", "/api/tracking/consent", token, &readme_consent, None).await;
    app.get("seed001_get_api_tracking_consent_user_id", "/api/tracking/consent/user123", token).await;
    app.post_params(
        "seed001_post_api_tracking_event_match_proposed",
        "/api/tracking/event/match-proposed",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("match_score", "0.85"),
            ("alternatives_count", "5"),
            ("session_id", "session789"),
        ],
        Some(&json!({
            "match_parameters": {"weight_skill": 0.7, "weight_availability": 0.3},
            "constraint_satisfaction": {"location": 0.9, "skills": 0.8, "preferences": 0.7}
        })),
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_viewed",
        "/api/tracking/event/match-viewed",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("view_duration_seconds", "12.5"),
            ("view_complete", "true"),
        ],
        None,
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_decision",
        "/api/tracking/event/match-decision",
        token,
        &[("user_id", "user123"), ("match_id", "match456"), ("decision", "True"), ("decision_time_seconds", "30.5")],
        Some(&json!({"reasons": ["Compétences pertinentes", "Disponibilité compatible"]})),
    )
    .await;
    app.post_params(
        "seed001_post_api_tracking_event_match_feedback",
        "/api/tracking/event/match-feedback",
        token,
        &[
            ("user_id", "user123"),
            ("match_id", "match456"),
            ("rating", "4"),
            ("feedback_text", "Très bon matching, les compétences correspondaient parfaitement."),
        ],
        Some(&json!({"specific_aspects": {"relevance": 5, "timing": 4, "communication": 3}})),
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance", "/api/metrics/acceptance?days=30", token).await;
    app.get("seed001_get_api_metrics_satisfaction", "/api/metrics/satisfaction?days=30", token).await;
    app.get("seed001_get_api_metrics_constraints", "/api/metrics/constraints?days=30", token).await;
    app.post_params("seed001_post_api_ml_update__one_match", "/api/ml/update", token, &[], None).await;
    app.post_params("seed001_post_api_privacy_cleanup", "/api/privacy/cleanup", token, &[], None).await;

    // Enough decided matches for the model: acceptance follows skills (seeded noise).
    app.grant_consent("learner").await;
    let mut rng = SplitMix64::new(7);
    for n in 0..60 {
        let (location, skills, preferences) = (rng.next_f64(), rng.next_f64(), rng.next_f64());
        let accepted = skills + 0.2 * (rng.next_f64() - 0.5) > 0.5;
        let (match_id, score) = (format!("m{n}"), format!("{:.3}", (location + skills + preferences) / 3.0));
        let proposal = app
            .client
            .post(app.url("/api/tracking/event/match-proposed"))
            .query(&[("user_id", "learner"), ("match_id", &match_id), ("match_score", &score), ("alternatives_count", "3")])
            .bearer_auth(&admin)
            .json(&json!({"constraint_satisfaction": {"location": location, "skills": skills, "preferences": preferences}}));
        app.clock.advance(SECOND_US);
        app.quietly(proposal, StatusCode::OK).await;
        app.clock.advance(SECOND_US);
        let decision = app
            .client
            .post(app.url("/api/tracking/event/match-decision"))
            .query(&[("user_id", "learner"), ("match_id", &match_id), ("decision", &accepted.to_string())])
            .bearer_auth(&admin);
        app.quietly(decision, StatusCode::OK).await;
    }
    app.post_params("seed001_post_api_ml_update", "/api/ml/update", token, &[], None).await;
    app.get("seed001_get_api_metrics_acceptance__with_the_model_fixture", "/api/metrics/acceptance?days=30", token)
        .await;
    app.get("seed001_get_api_metrics_constraints__with_the_model_fixture", "/api/metrics/constraints?days=30", token)
        .await;

    // A hundred days on, the raw match events have expired.
    app.state.processor.catch_up(Duration::from_secs(10)).await.unwrap();
    app.clock.advance(100 * DAY_US);
    app.app.admin_token = app.login_ok(ADMIN, ADMIN_PASSWORD).await;
    let admin = app.admin_token.clone();
    app.post_params(
        "seed001_post_api_privacy_cleanup__after_100_days",
        "/api/privacy/cleanup",
        Some(&admin),
        &[],
        None,
    )
    .await;
    app.get("seed001_get_api_metrics_acceptance__after_cleanup", "/api/metrics/acceptance?days=365", Some(&admin))
        .await;
}
