//! `footprint demo`: the loader, run against a real server's state on each store, leaves every
//! area with something to show over HTTP, and refuses to run again on a store with data.

use footprint::tools::demo::{self, DemoOptions, ProgressBar};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, body};

async fn ok(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    body(response).await
}

async fn demo_fills_every_area(app: TestApp) {
    let options = DemoOptions { users: 60, seed: 7, force: false };
    let report = demo::load(&app.state, &options, &ProgressBar::hidden()).await.expect("the demo loads");
    assert!(report.events_accepted > 1_000, "{report:?}");
    assert!(report.match_events > 0 && report.registrations > 0 && report.segments >= 2, "{report:?}");

    // The printed accounts log in, and the user account owns the first demo user's data.
    let password = |username: &str| {
        let account = report.accounts.iter().find(|a| a.username == username).expect("account");
        account.password.as_ref().expect("a new account has its password").expose().to_owned()
    };
    let manager = app.login_ok("demo-manager", &password("demo-manager")).await;
    let user = app.login_ok("demo-user", &password("demo-user")).await;
    let admin = app.login_ok("demo-admin", &password("demo-admin")).await;
    let owner = &report.accounts.iter().find(|a| a.username == "demo-user").expect("user").user_id;

    let events = ok(&app, "/api/v1/events?limit=20", &manager).await;
    assert_eq!(events["events"].as_array().map(Vec::len), Some(20), "{events}");
    let profile = ok(&app, &format!("/api/profile/{owner}"), &user).await;
    assert!(profile.to_string().contains("engagement"), "{profile}");
    ok(&app, &format!("/api/profile/{owner}/cluster"), &user).await;
    let next = ok(&app, &format!("/api/v1/users/{owner}/next-actions?k=3"), &user).await;
    assert!(!next["predictions"].as_array().expect("predictions").is_empty(), "{next}");

    let acceptance = ok(&app, "/api/metrics/acceptance?days=7", &manager).await;
    for field in ["proposed", "decided", "accepted"] {
        assert!(acceptance[field].as_u64().unwrap_or(0) > 0, "{field}: {acceptance}");
    }
    let satisfaction = ok(&app, "/api/metrics/satisfaction?days=7", &manager).await;
    assert!(satisfaction["mean_rating"].as_f64().is_some(), "{satisfaction}");

    let classes = ok(&app, "/api/v1/attendance/events?limit=5", &manager).await;
    assert_eq!(classes["events"].as_array().map(Vec::len), Some(5), "{classes}");
    let models = ok(&app, "/api/ml/models?status=ready", &admin).await;
    assert_eq!(models["data"].as_array().map(Vec::len), Some(1), "{models}");
    let predicted = app
        .post_json("/api/ml/predict-attendance", Some(&manager), &serde_json::json!({"eventId": demo::UPCOMING_EVENT}))
        .await;
    assert_eq!(predicted.status(), StatusCode::OK);

    // Run again: the store holds data now, so it is refused, and nothing is added.
    let stored = app.state.store.max_event_seq().await.expect("seq");
    let again = demo::load(&app.state, &options, &ProgressBar::hidden()).await.expect_err("refused");
    assert!(again.to_string().contains("--force"), "{again}");
    assert_eq!(app.state.store.max_event_seq().await.expect("seq"), stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_every_area_on_sqlite() {
    demo_fills_every_area(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_fills_every_area_on_postgres() {
    demo_fills_every_area(TestApp::spawn_postgres_with(|_| {}).await).await;
}
