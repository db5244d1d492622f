//! Seed 000's profile routes on a fixture whose features, preferences and habits are computed by
//! hand below.

use std::sync::Arc;

use footprint::kernel::clock::{Clock, OffsetClock};
use footprint_analytics::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

const DAY_US: i64 = 86_400_000_000;
const HOUR_US: i64 = 3_600_000_000;
const MINUTE_US: i64 = 60_000_000;

/// Noon, two days from now: far enough ahead that tokens stay valid against the real clock.
fn noon_ahead() -> i64 {
    let now = footprint::kernel::clock::to_us(time::OffsetDateTime::now_utc());
    (now.div_euclid(DAY_US) + 2) * DAY_US + 12 * HOUR_US
}

fn rfc3339(us: i64) -> String {
    footprint::kernel::clock::rfc3339(us)
}

/// Ana's six events: day D−2 09:00–09:20 (view, click, view), D−1 08:00–08:05 (view, click),
/// D−1 18:00 (purchase); "now" is D 12:00.
fn fixture_events(now: i64) -> Vec<Value> {
    let d2 = (now.div_euclid(DAY_US) - 2) * DAY_US;
    let d1 = d2 + DAY_US;
    let at = |day: i64, hour: i64, minute: i64| rfc3339(day + hour * HOUR_US + minute * MINUTE_US);
    vec![
        json!({"type": "page_view", "timestamp": at(d2, 9, 0), "properties": {"category": "shoes", "item_id": "sku-1"}}),
        json!({"type": "click", "timestamp": at(d2, 9, 10), "properties": {"category": "shoes", "element_id": "buy_button", "item_id": "sku-1"}}),
        json!({"type": "page_view", "timestamp": at(d2, 9, 20), "properties": {"category": "hats"}}),
        json!({"type": "page_view", "timestamp": at(d1, 8, 0), "properties": {"category": "hats"}}),
        json!({"type": "click", "timestamp": at(d1, 8, 5), "properties": {"category": "hats", "element_id": "wishlist"}}),
        json!({"type": "purchase", "timestamp": at(d1, 18, 0), "properties": {"category": "shoes", "item_id": "sku-1"}}),
    ]
}

async fn app_with_ana() -> (TestApp, Arc<OffsetClock>, i64) {
    let now = noon_ahead();
    let clock = Arc::new(OffsetClock::starting_at(now));
    let app = TestApp::spawn_with_clock(false, clock.clone()).await;
    app.user_with_role("ana", Role::User).await;
    app.grant_consent("ana").await;
    let events: Vec<Value> = fixture_events(now)
        .into_iter()
        .map(|mut event| {
            event["user_id"] = json!("ana");
            event
        })
        .collect();
    let response = app.track_batch(&app.admin_token, &events).await;
    assert!(response.status().is_success());
    assert_eq!(body(response).await["accepted"], 6);
    (app, clock, now)
}

fn close(value: &Value, expected: f64, tolerance: f64) -> bool {
    value.as_f64().is_some_and(|value| (value - expected).abs() <= tolerance)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_and_profile_versions_are_computed_from_the_events() {
    let (app, clock, now) = app_with_ana().await;
    let ana = app.login_ok("ana", crate::helpers::PASSWORD).await;
    let profile = body(app.get("/api/profile/ana", Some(&ana)).await).await;
    let features = &profile["features"];
    assert_eq!(features["events"], 6);
    assert_eq!(features["events_by_type"], json!({"click": 2, "page_view": 3, "purchase": 1}));
    // Sessions: 09:00–09:20 (1 200 s), 08:00–08:05 (300 s), 18:00 (0 s).
    assert_eq!(features["sessions"], 3);
    assert_eq!(features["events_per_session"], 2.0);
    assert!(close(&features["mean_session_seconds"], 500.0, 1e-9));
    assert_eq!(features["max_session_seconds"], 1200.0);
    // Active on D−2 and D−1 of the 3 days D−2..D.
    assert_eq!(features["active_days"], 2);
    assert!(close(&features["active_day_ratio"], 2.0 / 3.0, 1e-12));
    let elapsed = (clock.now_us() - now) as f64 / DAY_US as f64;
    assert!(close(&features["recency_days"], 0.75 + elapsed, 1e-3), "18 hours: {features}");
    assert!(close(&features["tenure_days"], 2.125 + elapsed, 1e-3), "D−2 09:00 to D 12:00: {features}");
    assert_eq!(features["events_per_week"], 6.0, "under a week counts as one");
    assert_eq!(features["hour_of_day"][9], 0.5);
    assert!(close(&features["hour_of_day"][8], 1.0 / 3.0, 1e-12));
    assert!(close(&features["hour_of_day"][18], 1.0 / 6.0, 1e-12));
    assert_eq!(features["categories"], json!({"hats": 0.5, "shoes": 0.5}));
    assert_eq!(features["feature_usage"], json!({"buy_button": 1, "wishlist": 1}));
    let engagement = 100.0
        * (0.30 * 2.0 / 3.0
            + 0.30 * (-0.75f64 / 14.0).exp()
            + 0.25 * (1.0 - (-2.0f64 / 5.0).exp())
            + 0.15 * (1.0 - (-1.0f64).exp()));
    assert!(close(&features["engagement_score"], engagement, 0.01), "{features}");
    assert_eq!(profile["version"], 0);
    assert_eq!(app.get("/api/profile/ana/features", Some(&ana)).await.status(), StatusCode::OK);

    // The declared profile: checked, versioned.
    let bad = app
        .client
        .put(app.url("/api/profile/ana"))
        .bearer_auth(&ana)
        .json(&json!({"display_name": "x".repeat(101)}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    for (n, name) in ["Ana", "Ana B."].iter().enumerate() {
        let put = app
            .client
            .put(app.url("/api/profile/ana"))
            .bearer_auth(&ana)
            .json(&json!({"profile": {"display_name": name, "language": "fr"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::OK);
        let put = body(put).await;
        assert_eq!(put["version"], n + 1);
        assert_eq!(put["declared"]["display_name"], *name);
    }
    let history = body(app.get("/api/profile/ana/history", Some(&ana)).await).await;
    assert_eq!(history.as_array().unwrap().len(), 2);
    assert_eq!(history[0]["declared"]["display_name"], "Ana");
    assert_eq!(history[1]["changed_by"], "ana");

    // The rebuilt profile equals the incremental one.
    let recalculated = body(app.post_json("/api/profile/ana/recalculate", Some(&ana), &json!({})).await).await;
    assert_eq!(recalculated["events"], 6);
    assert_eq!(recalculated["matched_incremental"], true, "{recalculated}");

    let missing = app.get("/api/profile/nobody", Some(&app.admin_token)).await;
    assert_eq!(error_code(missing, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    let health = body(app.get("/api/profile/health", None).await).await;
    assert_eq!(health["status"], "ok");
    let auth = app
        .post_json("/api/profile/auth", None, &json!({"username": "ana", "password": crate::helpers::PASSWORD}))
        .await;
    assert_eq!(auth.status(), StatusCode::OK);
    assert_eq!(body(auth).await["token_type"], "bearer");
}

/// Σ weight × 2^(−age / 14 days).
fn decayed(signals: &[(f64, f64)]) -> f64 {
    signals.iter().map(|(weight, age_days)| weight * (-age_days / 14.0).exp2()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_need_consent_and_decay_with_time() {
    let (app, clock, now) = app_with_ana().await;
    let preferences = body(app.get("/api/profile/ana/preferences", Some(&app.admin_token)).await).await;
    let elapsed = (clock.now_us() - now) as f64 / DAY_US as f64;
    let minutes = |m: f64| m / 1440.0;
    // Shoes: view (1) at D−2 09:00, click (2) at 09:10, purchase (8) at D−1 18:00.
    let shoes = decayed(&[(1.0, 2.125 + elapsed), (2.0, 2.125 - minutes(10.0) + elapsed), (8.0, 0.75 + elapsed)]);
    // Hats: view (1) at D−2 09:20, view (1) at D−1 08:00, click (2) at 08:05.
    let hats = decayed(&[
        (1.0, 2.125 - minutes(20.0) + elapsed),
        (1.0, 1.0 + 4.0 / 24.0 + elapsed),
        (2.0, 1.0 + 4.0 / 24.0 - minutes(5.0) + elapsed),
    ]);
    let categories = &preferences["categories"];
    assert_eq!(categories[0]["name"], "shoes");
    assert!(close(&categories[0]["raw_score"], shoes, 1e-6), "{preferences}");
    assert_eq!(categories[0]["score"], 1.0);
    assert_eq!(categories[0]["count"], 3);
    assert!(close(&categories[1]["score"], hats / shoes, 1e-6), "{preferences}");
    assert_eq!(preferences["items"][0]["name"], "sku-1");
    assert!(close(&preferences["items"][0]["raw_score"], shoes, 1e-6));
    assert_eq!(preferences["half_life_days"], 14.0);

    // Without `preferences` consent: refused, and the enriched view says why.
    let withdraw = app
        .post_query(
            "/api/tracking/consent",
            Some(&app.admin_token),
            &[("user_id", "ana"), ("analytics", "true"), ("preferences", "false")],
        )
        .await;
    assert_eq!(withdraw.status(), StatusCode::OK);
    let refused = app.get("/api/profile/ana/preferences", Some(&app.admin_token)).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "CONSENT_REQUIRED");
    let enriched = body(app.get("/api/profile/ana/enriched", Some(&app.admin_token)).await).await;
    assert_eq!(enriched["preferences"]["available"], false);
    assert!(enriched["preferences"]["reason"].as_str().unwrap().contains("preferences"));
    assert_eq!(enriched["profile"]["features"]["events"], 6);
    assert_eq!(enriched["patterns"]["session_habits"]["sessions"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_are_the_hand_computed_habits() {
    let (app, _clock, _now) = app_with_ana().await;
    let patterns = body(app.get("/api/profile/ana/patterns", Some(&app.admin_token)).await).await;
    // Sessions: [view, click, view], [view, click], [purchase]: view → click is in two of three.
    assert_eq!(
        patterns["frequent_sequences"],
        json!([{"actions": ["page_view", "click"], "support": 2, "share": 2.0 / 3.0}])
    );
    let habits = &patterns["session_habits"];
    assert_eq!(habits["sessions"], 3);
    assert_eq!(habits["median_length_seconds"], 300.0);
    assert_eq!(habits["first_actions"][0], json!({"action": "page_view", "sessions": 2, "share": 2.0 / 3.0}));
    // Uniform share of an hour: 6 / 24 = 0.25 events; 09h has 3 (lift 12), 08h 2 (8), 18h 1 (4).
    let peaks: Vec<(u64, f64)> = patterns["hours"]["peaks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["slot"].as_u64().unwrap(), p["lift"].as_f64().unwrap()))
        .collect();
    assert_eq!(peaks, [(9, 12.0), (8, 8.0), (18, 4.0)]);
    assert_eq!(patterns["streaks"], json!({"current_days": 2, "longest_days": 2}));
    assert_eq!(patterns["recent_change"]["direction"], "insufficient_history");
}

/// Habits are found again only when the user has new events, or a minute later: in between the
/// same answer is given, with the time it was found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patterns_are_kept_until_the_user_has_new_events() {
    let (app, clock, now) = app_with_ana().await;
    let patterns = || async { body(app.get("/api/profile/ana/patterns", Some(&app.admin_token)).await).await };
    let first = patterns().await;
    assert_eq!(first["events"], 6);
    clock.advance(std::time::Duration::from_secs(30));
    let kept = patterns().await;
    assert_eq!(kept, first, "nothing new: the same habits, found at the same time");

    let new = json!({"user_id": "ana", "type": "purchase", "timestamp": rfc3339(now + 20 * MINUTE_US)});
    assert_eq!(body(app.track_batch(&app.admin_token, &[new]).await).await["accepted"], 1);
    let after = patterns().await;
    assert_eq!(after["events"], 7, "a new event: found again");
    assert_ne!(after["computed_at"], first["computed_at"]);

    clock.advance(std::time::Duration::from_secs(61));
    let later = patterns().await;
    assert_eq!(later["events"], 7);
    assert_ne!(later["computed_at"], after["computed_at"], "a minute later: found again as of now");
}

/// Six light users (one short visit: shoes and socks, item sku-9; one of them also sku-77), three heavy ones (daily
/// visits over a week: hats and scarves), and ana, light, who only looked at shoes.
pub(crate) fn segmented_events(now: i64) -> Vec<Value> {
    let mut events = Vec::new();
    for n in 0..6 {
        for (m, (category, item)) in [("shoes", "sku-1"), ("socks", "sku-9"), ("shoes", "sku-9")].iter().enumerate() {
            events.push(json!({"user_id": format!("light-{n}"), "type": "page_view", "timestamp": rfc3339(now - DAY_US + m as i64 * MINUTE_US),
                "properties": {"category": category, "item_id": item}}));
        }
    }
    // One light user also looked at sku-77: recommending it would tell ana what that peer did.
    events.push(json!({"user_id": "light-0", "type": "page_view", "timestamp": rfc3339(now - DAY_US + 3 * MINUTE_US),
        "properties": {"category": "shoes", "item_id": "sku-77"}}));
    for n in 0..3 {
        for day in 0..7 {
            for (m, category) in ["hats", "scarves", "hats", "scarves", "hats"].iter().enumerate() {
                let kind = if m % 2 == 0 { "page_view" } else { "click" };
                events.push(json!({"user_id": format!("heavy-{n}"), "type": kind,
                    "timestamp": rfc3339(now - day * DAY_US - 2 * HOUR_US + m as i64 * 5 * MINUTE_US), "properties": {"category": category}}));
            }
        }
    }
    for (m, item) in ["sku-1", "sku-2"].iter().enumerate() {
        events.push(
            json!({"user_id": "ana", "type": "page_view", "timestamp": rfc3339(now - DAY_US + m as i64 * MINUTE_US),
            "properties": {"category": "shoes", "item_id": item}}),
        );
    }
    events
}

pub(crate) fn now_us() -> i64 {
    footprint::kernel::clock::to_us(time::OffsetDateTime::now_utc())
}

/// Consent granted by default and `customise`d, on SQLite or on PostgreSQL; ana has an account.
pub(crate) async fn profiling_app(postgres: bool, customise: impl FnOnce(&mut footprint::Config)) -> TestApp {
    let configure = |config: &mut footprint::Config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
        customise(config);
    };
    let app =
        if postgres { TestApp::spawn_postgres_with(configure).await } else { TestApp::spawn_with(configure).await };
    app.user_with_role("ana", Role::User).await;
    app
}

pub(crate) async fn track_all(app: &TestApp, events: &[Value]) {
    let response = app.track_batch(&app.admin_token, events).await;
    assert_eq!(body(response).await["accepted"], events.len());
}

/// The segmented users, tracked, on a server that segments only when asked.
async fn segmented_app() -> TestApp {
    let app = profiling_app(false, |config| config.processing.segmentation_growth = 0.0).await;
    track_all(&app, &segmented_events(now_us())).await;
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_and_recommendations_come_from_peers() {
    let app = segmented_app().await;
    let before = app.get("/api/profile/ana/cluster", Some(&app.admin_token)).await;
    assert_eq!(error_code(before, StatusCode::UNPROCESSABLE_ENTITY).await, "INSUFFICIENT_DATA");

    let run = footprint::profiles::segments::UserClustering::new(app.state.clone()).update_clusters().await.unwrap();
    assert_eq!((run.k, run.n_users), (2, 10), "{:?}", run.model.silhouettes);
    let latest = body(app.get("/api/profile/clusters", Some(&app.admin_token)).await).await;
    assert_eq!(latest["run_id"], run.run_id.as_str());
    assert_eq!(latest["model"]["segments"][0]["size"], 7);
    assert_eq!(latest["model"]["segments"][1]["size"], 3);

    let cluster = body(app.get("/api/profile/ana/cluster", Some(&app.admin_token)).await).await;
    assert_eq!(cluster["segment_id"], 0);
    assert_eq!(cluster["size"], 7);
    assert_eq!(cluster["in_latest_run"], true);
    assert!(cluster["position"].is_array());
    assert!(!cluster["name"].as_str().unwrap().is_empty());
    let heavy = body(app.get("/api/profile/heavy-0/cluster", Some(&app.admin_token)).await).await;
    assert_eq!(heavy["segment_id"], 1);
    assert_ne!(heavy["name"], cluster["name"]);

    // Ana has seen shoes (sku-1, sku-2); her six peers all saw socks and sku-9 as well.
    let recommended = body(app.get("/api/profile/ana/recommendations?limit=5", Some(&app.admin_token)).await).await;
    assert_eq!(recommended["peers"], 6);
    let names: Vec<&str> =
        recommended["recommendations"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["sku-9", "socks"], "{recommended}");
    assert!(!names.contains(&"sku-77"), "seen by a single peer");
    assert_eq!(recommended["recommendations"][1]["kind"], "category");
    assert_eq!(recommended["recommendations"][1]["score"], 1.0);
    assert_eq!(recommended["recommendations"][1]["peers_engaged"], 6);
    assert!(recommended["recommendations"][1]["reason"].as_str().unwrap().contains("shoes"));

    // Recommendations stand on preferences: no consent, no recommendations.
    let withdraw = app
        .post_query("/api/tracking/consent", Some(&app.admin_token), &[("user_id", "ana"), ("analytics", "true")])
        .await;
    assert_eq!(withdraw.status(), StatusCode::OK);
    let refused = app.get("/api/profile/ana/recommendations", Some(&app.admin_token)).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "CONSENT_REQUIRED");
    let started = app.post_json("/api/profile/clusters/update", Some(&app.admin_token), &json!({})).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
}

/// `GET path` until it answers 200 (a segmentation runs in the background); fails at the deadline.
async fn poll_until_ok(app: &TestApp, path: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let response = app.get(path, Some(&app.admin_token)).await;
        if response.status() == StatusCode::OK {
            return body(response).await;
        }
        let answer = body(response).await;
        assert!(tokio::time::Instant::now() < deadline, "{path} never answered 200; last answer: {answer}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn user_key(app: &TestApp, user_id: &str) -> String {
    app.state.store.user(user_id).await.unwrap().expect("the user is stored").user_key
}

/// Newcomers who track events get their segment (and what depends on it) without waiting for
/// the hourly segmentation.
async fn newcomers_get_a_segment_without_waiting_for_the_hourly_run(postgres: bool) {
    let app = profiling_app(postgres, |_| {}).await;
    assert_eq!(app.state.config.processing.segmentation_interval_secs, std::time::Duration::from_secs(3_600));
    track_all(&app, &segmented_events(now_us())).await;

    let cluster = poll_until_ok(&app, "/api/profile/ana/cluster").await;
    assert_eq!(cluster["in_latest_run"], true, "{cluster}");
    assert_eq!(cluster["segments"], 2, "{cluster}");
    assert_eq!(cluster["size"], 7, "ana with the six light users: {cluster}");
    let heavy = body(app.get("/api/profile/heavy-0/cluster", Some(&app.admin_token)).await).await;
    assert_ne!(heavy["segment_id"], cluster["segment_id"]);
    let recommended = app.get("/api/profile/ana/recommendations", Some(&app.admin_token)).await;
    assert_eq!(recommended.status(), StatusCode::OK);
    let enriched = body(app.get("/api/profile/ana/enriched", Some(&app.admin_token)).await).await;
    assert_eq!(enriched["cluster"]["segment_id"], cluster["segment_id"], "{enriched}");
    let jobs = body(app.get("/api/v1/jobs", Some(&app.admin_token)).await).await;
    let runs = jobs["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "segmentation").unwrap()["runs"].clone();
    assert_eq!(runs, 1, "one run for the newcomers, recorded: {jobs}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomers_get_a_segment_without_waiting_for_the_hourly_run_on_sqlite() {
    newcomers_get_a_segment_without_waiting_for_the_hourly_run(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn newcomers_get_a_segment_without_waiting_for_the_hourly_run_on_postgres() {
    newcomers_get_a_segment_without_waiting_for_the_hourly_run(true).await;
}

/// Recalculating says why there is no segment while there are too few users, runs the first
/// segmentation once there are enough, and places a user who joined after it at the nearest
/// centroid, kept; asking for the segment places a newcomer too. Nothing runs on growth here.
async fn recalculate_gives_a_user_who_joined_after_the_segmentation_a_segment(postgres: bool) {
    let app = profiling_app(postgres, |config| config.processing.segmentation_growth = 0.0).await;
    let events = segmented_events(now_us());
    let of = |users: &[&str]| -> Vec<Value> {
        events.iter().filter(|e| users.contains(&e["user_id"].as_str().unwrap())).cloned().collect()
    };
    track_all(&app, &of(&["light-0", "light-1"])).await;
    let too_few =
        body(app.post_json("/api/profile/light-0/recalculate", Some(&app.admin_token), &json!({})).await).await;
    assert_eq!(too_few["matched_incremental"], true);
    assert_eq!(too_few["cluster"]["available"], false, "{too_few}");
    assert!(too_few["cluster"]["reason"].as_str().unwrap().contains("no segmentation"), "{too_few}");
    let before = app.get("/api/profile/light-0/cluster", Some(&app.admin_token)).await;
    assert_eq!(error_code(before, StatusCode::UNPROCESSABLE_ENTITY).await, "INSUFFICIENT_DATA");

    // Enough users: the recalculation runs the first segmentation.
    track_all(&app, &of(&["light-2", "light-3", "light-4", "light-5", "heavy-0", "heavy-1", "heavy-2"])).await;
    let first = body(app.post_json("/api/profile/light-0/recalculate", Some(&app.admin_token), &json!({})).await).await;
    assert_eq!(first["cluster"]["in_latest_run"], true, "{first}");
    let runs = app.state.store.cluster_runs(10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.n_users).collect::<Vec<_>>(), [9]);
    let run_id = runs[0].run_id.clone();

    // Ana joins after it: the recalculation places her at the nearest centroid and keeps it.
    track_all(&app, &of(&["ana"])).await;
    let ana = body(app.post_json("/api/profile/ana/recalculate", Some(&app.admin_token), &json!({})).await).await;
    assert_eq!(ana["events"], 2);
    assert_eq!(ana["cluster"]["in_latest_run"], false, "{ana}");
    assert_eq!(ana["cluster"]["run_id"], run_id.as_str());
    assert_eq!(ana["cluster"]["segment_id"], first["cluster"]["segment_id"], "light, like light-0: {ana}");
    let kept = app.state.store.cluster_assignment(&run_id, &user_key(&app, "ana").await).await.unwrap();
    let kept = kept.expect("ana's placement is kept");
    assert!(kept.placed);
    assert_eq!(Some(kept.cluster), ana["cluster"]["segment_id"].as_i64());
    let cluster = app.get("/api/profile/ana/cluster", Some(&app.admin_token)).await;
    assert_eq!(cluster.status(), StatusCode::OK);
    let cluster = body(cluster).await;
    assert_eq!(cluster["segment_id"], ana["cluster"]["segment_id"]);
    assert_eq!(cluster["in_latest_run"], false);
    let segment = kept.cluster;
    let members = app.state.store.cluster_members(&run_id, segment, 100).await.unwrap();
    assert!(members.iter().any(|m| m.user_key == kept.user_key), "ana counts among the segment's members");

    // Bob joins and only asks: placed on demand, kept, and in his enriched profile.
    let bob: Vec<Value> = of(&["heavy-0"])
        .into_iter()
        .map(|mut event| {
            event["user_id"] = json!("bob");
            event
        })
        .collect();
    track_all(&app, &bob).await;
    let bob_cluster = body(app.get("/api/profile/bob/cluster", Some(&app.admin_token)).await).await;
    assert_eq!(bob_cluster["in_latest_run"], false, "{bob_cluster}");
    let heavy = body(app.get("/api/profile/heavy-0/cluster", Some(&app.admin_token)).await).await;
    assert_eq!(bob_cluster["segment_id"], heavy["segment_id"], "bob behaves as heavy-0 did");
    let bob_key = user_key(&app, "bob").await;
    assert!(app.state.store.cluster_assignment(&run_id, &bob_key).await.unwrap().is_some_and(|a| a.placed));
    let enriched = body(app.get("/api/profile/bob/enriched", Some(&app.admin_token)).await).await;
    assert_eq!(enriched["cluster"]["segment_id"], heavy["segment_id"], "{enriched}");
    assert_eq!(app.state.store.cluster_runs(10).await.unwrap().len(), 1, "placing users runs no segmentation");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalculate_gives_a_user_who_joined_after_the_segmentation_a_segment_on_sqlite() {
    recalculate_gives_a_user_who_joined_after_the_segmentation_a_segment(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recalculate_gives_a_user_who_joined_after_the_segmentation_a_segment_on_postgres() {
    recalculate_gives_a_user_who_joined_after_the_segmentation_a_segment(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profiling_system_works_as_a_library() {
    use tower::ServiceExt;

    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::helpers::test_config(dir.path());
    config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    let system = footprint::profiling::setup_profiling_system(config).await.unwrap();
    let tracking = &system.tracking_integration;
    tracking.start_auto_processing(std::time::Duration::from_secs(3600)).await;
    let result = tracking
        .track_event("12345", "click", json!({"element_id": "apply_button", "page": "/job/123"}))
        .await
        .unwrap();
    assert_eq!(result.status(), "accepted");
    // The server's own processing may get there first; after this call, nothing is left.
    tracking.process_recent_events().await.unwrap();
    assert_eq!(tracking.process_recent_events().await.unwrap().processed, 0);
    tracking.stop_auto_processing().await;
    let features = system.feature_extractor.extract_features("12345").await.unwrap();
    assert_eq!(features.features.events, 1);
    assert_eq!(features.features.feature_usage["apply_button"], 1);
    let router = axum::Router::new().merge(system.api.router());
    let response = router
        .oneshot(axum::http::Request::get("/api/profile/health").body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    system.app.shutdown().await;
}

/// Who performed an action (`properties.actor`) is context for the next one: after the same
/// "review", a clerk's goes on to "approve" and the system's to "notify", on both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_action_reads_who_performed_the_last_one() {
    for postgres in [false, true] {
        let app = profiling_app(postgres, |_| {}).await;
        let now = now_us();
        let mut events = Vec::new();
        let case = |user: String, reviewer: &str, next: Option<&str>, at: i64| {
            let mut steps = vec![("submit", "web"), ("review", reviewer)];
            steps.extend(next.map(|next| (next, reviewer)));
            steps
                .into_iter()
                .enumerate()
                .map(|(m, (action, actor))| {
                    json!({"user_id": user, "type": action, "timestamp": rfc3339(at + m as i64 * MINUTE_US),
                        "properties": {"actor": actor}})
                })
                .collect::<Vec<Value>>()
        };
        for n in 0..12 {
            let at = now - DAY_US + n * 10 * MINUTE_US;
            events.extend(case(format!("clerk-case-{n}"), "clerk", Some("approve"), at));
            events.extend(case(format!("system-case-{n}"), "system", Some("notify"), at));
        }
        events.extend(case("open-clerk".to_owned(), "clerk", None, now - HOUR_US));
        events.extend(case("open-system".to_owned(), "system", None, now - HOUR_US));
        track_all(&app, &events).await;
        for (user, expected) in [("open-clerk", "approve"), ("open-system", "notify")] {
            let next =
                body(app.get(&format!("/api/v1/users/{user}/next-actions?k=2"), Some(&app.admin_token)).await).await;
            assert_eq!(next["predictions"][0]["action"], expected, "{user}: {next}");
            assert!(next["predictions"][0]["probability"].as_f64().unwrap() > 0.7, "{next}");
            assert_eq!(next["context"], json!(["submit", "review"]), "{next}");
        }
    }
}
