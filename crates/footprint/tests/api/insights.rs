//! Seed 003's insights over HTTP: `INSUFFICIENT_DATA` on an empty instance; then, on a history
//! with planted churn (half the users stop, half stay), the churn model trains in the background
//! with its validation reported, a staying user's risk is below a leaver's, the weekly
//! engagement, cohort retention and usage of the tier are computed from the data; the tier
//! analysis and the daily report; provisioning from a file, idempotent, with invitations.

use std::time::Duration;

use footprint::accounts::provisioning::{self, Format};
use footprint::jobs::automation::{self, Job, Output};
use footprint_analytics::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, error_code};

const DAY_US: i64 = 86_400_000_000;

async fn ok(app: &TestApp, path: &str, token: &str) -> Value {
    let response = app.get(path, Some(token)).await;
    let status = response.status();
    let value = body(response).await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {value}");
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_instance_has_insufficient_data_and_says_how_much_is_needed() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token.clone();
    let response = app.get("/api/v1/users/admin/insights", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await, "INSUFFICIENT_DATA");
    let response = app.get("/api/v1/insights/cohorts", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await, "INSUFFICIENT_DATA");
    let response = app.post_json("/api/v1/insights/churn/train", Some(&admin), &json!({})).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(response).await;
    assert!(refused["error"]["message"].as_str().unwrap().contains("needs 30 users"), "{refused}");
    let response = app.get("/api/v1/insights/cohorts?period=fortnight", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let response = app.get("/api/v1/users/nobody/insights", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    // The report still answers, with what there is.
    let report = ok(&app, "/api/v1/insights/report", &admin).await;
    assert_eq!(report["churn"]["note"], json!("no churn model is trained yet"));
}

/// 100 users over 60 days: `stay-*` active 59 days ago and then every second day up to today,
/// `leave-*` the same until 36–45 days ago, then never again. Each active day holds a page view,
/// an item view and a purchase with a `revenue`.
pub(crate) fn planted_history(now_us: i64) -> Vec<Value> {
    let mut events = Vec::new();
    for n in 0..100 {
        let (user, last_day_ago) =
            if n % 2 == 0 { (format!("stay-{n:03}"), 0) } else { (format!("leave-{n:03}"), 36 + n % 10) };
        // Everyone's first day is 59 days ago (one cohort), then every other day.
        for days_ago in (last_day_ago..60).rev().filter(|d| (d + n) % 2 == 0 || *d == 59) {
            let at = now_us - days_ago * DAY_US - 3_600_000_000 * (1 + n % 5);
            for (k, kind) in ["page_view", "view_item", "purchase"].iter().enumerate() {
                let mut properties = json!({"page": "/shop"});
                if *kind == "purchase" {
                    properties = json!({"revenue": 10 + n % 7});
                }
                events.push(json!({
                    "user_id": user, "type": kind, "properties": properties,
                    "timestamp": footprint::kernel::clock::rfc3339(at + k as i64 * 60_000_000),
                    "message_id": format!("{user}-{days_ago}-{k}"),
                    "context": {"consent": {"analytics": true, "preferences": true, "improvement": true}},
                }));
            }
        }
    }
    events
}

async fn load_planted(app: &TestApp) {
    let key = app.ingest_key().await;
    let events = planted_history(app.state.clock.now_us());
    for chunk in events.chunks(5_000) {
        let response = app.track_batch(&key, chunk).await;
        assert!(response.status().is_success(), "{}", response.status());
    }
    app.state.processor.catch_up(Duration::from_secs(30)).await.expect("processed");
}

pub(crate) async fn wait_until_ready(app: &TestApp, model_id: &str) -> Value {
    for _ in 0..600 {
        let model = app.state.store.model(model_id).await.unwrap().expect("the model");
        match model.status.as_str() {
            "training" => tokio::time::sleep(Duration::from_millis(100)).await,
            "ready" => return serde_json::from_str(&model.metrics).unwrap(),
            other => panic!("the churn model is {other}: {:?}", model.error),
        }
    }
    panic!("the churn model did not finish training within a minute");
}

async fn insights_follow_the_data(app: TestApp) {
    load_planted(&app).await;
    let admin = app.admin_token.clone();
    // An account of one of the staying users, on the free tier.
    let created = app
        .post_json(
            "/api/v1/users",
            Some(&admin),
            &json!({"user_id": "stay-000", "email": "stay@example.com", "password": crate::helpers::PASSWORD, "tier": "free"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let stay = app.login_ok("stay@example.com", crate::helpers::PASSWORD).await;

    // Train: 202 at once, then ready, validated on the 30 days after the latest cut-off.
    let started = app.post_json("/api/v1/insights/churn/train", Some(&admin), &json!({})).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    let model_id = body(started).await["model_id"].as_str().unwrap().to_owned();
    let metrics = wait_until_ready(&app, &model_id).await;
    let validation = &metrics["validation"];
    assert_eq!(validation["users"], json!(100), "everyone was active in the 30 days before the cut-off: {validation}");
    assert_eq!(validation["churned"], json!(50), "the leavers: {validation}");
    assert!(validation["roc_auc"].as_f64().unwrap() > 0.9, "{validation}");
    let performance = ok(&app, &format!("/api/ml/models/{model_id}/performance"), &admin).await;
    assert_eq!(performance["data"]["performance"]["evaluatedOn"], json!(100), "{performance}");
    assert!(performance["data"]["performance"]["overall"]["roc_auc"].as_f64().is_some(), "{performance}");
    assert_eq!(performance["data"]["performance"]["calibration"].as_array().map(Vec::len), Some(10), "{performance}");
    let listed = ok(&app, "/api/ml/models?type=predictor", &admin).await;
    assert!(listed.to_string().contains("churn_predictor"), "{listed}");

    // The user's own insights.
    let mine = ok(&app, "/api/v1/users/stay-000/insights", &stay).await;
    let risk = &mine["churn_risk"];
    assert_eq!(risk["status"], json!("active"), "{risk}");
    assert_eq!(risk["horizon_days"], json!(30));
    let staying = risk["probability"].as_f64().unwrap();
    assert!(!risk["factors"].as_array().unwrap().is_empty(), "{risk}");
    assert_eq!(risk["model"]["id"], json!(model_id));
    let weekly = mine["engagement"]["weekly"].as_array().unwrap();
    assert_eq!(weekly.len(), 8);
    assert!(weekly.iter().all(|week| week["score"].as_f64().unwrap() > 0.0), "active every other day: {weekly:?}");
    assert!(mine["engagement"]["trend"]["p_value"].is_number() || mine["engagement"]["trend"]["direction"] == "flat");
    // Day 59, then every other day from 58 down to 0: 31 active days of 3 events; revenue 10 a day.
    assert_eq!(mine["activity"]["active_days"], json!(31), "{}", mine["activity"]);
    assert_eq!(mine["activity"]["events"], json!(93));
    let last_30 = mine["activity"]["events_last_30_days"].as_i64().unwrap();
    assert!((42..=48).contains(&last_30), "15 active days of 3 events in the last 30: {last_30}");
    assert_eq!(mine["activity"]["amount_last_30_days"].as_f64(), Some(10.0 * (last_30 / 3) as f64));
    assert_eq!(mine["cohort"]["users"], json!(100), "everyone started the same week: {}", mine["cohort"]);
    assert_eq!(mine["usage"]["tier"], json!("free"));
    assert!(mine["usage"]["requests_this_hour"].as_i64().unwrap() >= 1, "this request counts: {}", mine["usage"]);
    assert!(mine["usage"]["advice"]["action"].is_string());
    assert!(mine["segment"].is_object());

    // A leaver, seen by the admin: lapsed, and at higher risk.
    let leaver = ok(&app, "/api/v1/users/leave-001/insights", &admin).await;
    assert_eq!(leaver["churn_risk"]["status"], json!("lapsed"), "{}", leaver["churn_risk"]);
    let leaving = leaver["churn_risk"]["probability"].as_f64().unwrap();
    assert!(leaving > staying, "leaver {leaving} vs stayer {staying}");
    assert!(leaver["usage"].is_null(), "no account");
    let trend = &leaver["engagement"]["trend"];
    assert!(trend.is_object(), "{trend}");

    // Cohorts: one week of first visits; at the cohort's fifth week the leavers were gone.
    let cohorts = ok(&app, "/api/v1/insights/cohorts?period=week&periods=12", &admin).await;
    let rows = cohorts["cohorts"].as_array().unwrap();
    let users: i64 = rows.iter().map(|row| row["users"].as_i64().unwrap()).sum();
    assert_eq!(users, 100, "{cohorts}");
    assert_eq!(rows.len(), 1, "{cohorts}");
    let active: Vec<i64> = rows[0]["active"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
    assert_eq!(active[0], 100);
    assert_eq!(active[active.len() - 2], 50, "only the stayers in the last full week: {active:?}");
    let monthly = ok(&app, "/api/v1/insights/cohorts?period=month", &admin).await;
    assert_eq!(monthly["period"], json!("month"));

    // The tier analysis and the report name the account and count its requests.
    let tiers = ok(&app, "/api/v1/insights/tiers", &admin).await;
    assert_eq!(tiers["by_tier"]["free"]["accounts"], json!(1), "{tiers}");
    let report = ok(&app, "/api/v1/insights/report", &admin).await;
    assert_eq!(report["churn"]["model_id"], json!(model_id));
    assert_eq!(report["churn"]["users_scored"], json!(50), "the users active in the last 30 days: {report}");
    assert!(report["security"]["logins_succeeded"].as_i64().unwrap() >= 2, "{report}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_follow_the_data_on_sqlite() {
    insights_follow_the_data(TestApp::spawn().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insights_follow_the_data_on_postgres() {
    insights_follow_the_data(TestApp::spawn_postgres_with(|_| {}).await).await;
}

/// Provisioning creates, updates and leaves alone, rejects bad rows with their line, sends
/// invitations to the outbox, and running the same file again changes nothing; each run is
/// recorded and listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioning_is_idempotent_and_reports_each_row() {
    let app = TestApp::spawn().await;
    app.user_with_role("existing", Role::User).await;
    let csv = "username,email,password,tier,role,display_name,language\n\
               ann,ann@example.com,,premium,,Ann,fr\n\
               bob,bob@example.com,a-good-password-2,,manager,Bob,\n\
               existing,,,enterprise,,,\n\
               ,,,free,,,\n\
               cat,not-an-email,,gold,,,\n";
    let path = app.data_dir.path().join("users.csv");
    std::fs::write(&path, csv).unwrap();
    let first =
        automation::run(&app.state, Job::Provisioning, "cli", None, Some(&path), &|_| {}).await.unwrap().unwrap();
    let Ok(Output::Provisioning(report)) = &first.output else { panic!("{:?}", first.output.err()) };
    assert_eq!((report.rows, report.created, report.updated, report.unchanged), (5, 2, 1, 0), "{report:?}");
    assert_eq!(report.invitations, 1, "ann has no password");
    let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, [5, 6], "{:?}", report.rejected);
    assert!(report.rejected[1].reason.contains("gold"), "{:?}", report.rejected);
    assert_eq!(first.run.status, "success");

    let admin = app.admin_token.clone();
    let ann = ok(&app, "/api/v1/users/ann", &admin).await;
    assert_eq!((ann["tier"].clone(), ann["profile"]["language"].clone()), (json!("premium"), json!("fr")));
    assert_eq!(ok(&app, "/api/v1/users/bob", &admin).await["role"], json!("manager"));
    assert_eq!(ok(&app, "/api/v1/users/existing", &admin).await["tier"], json!("enterprise"));
    app.login_ok("bob", "a-good-password-2").await;
    // The invitation carries a temporary password that works; it is nowhere else.
    let outbox = ok(&app, "/api/v1/admin/outbox", &admin).await;
    let invitation = outbox.as_array().unwrap().iter().find(|m| m["recipient"] == json!("ann@example.com"));
    let text = invitation.expect("ann's invitation")["body"].as_str().unwrap().to_owned();
    let password = text.rsplit(' ').next().unwrap();
    app.login_ok("ann", password).await;

    // Again: nothing changes.
    let again = provisioning::provision(&app.state, csv.as_bytes(), Format::Csv, &|_| {}).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged, again.rejected.len()), (0, 0, 3, 2), "{again:?}");
    // JSON lines in the seed's shape.
    let jsonl = r#"{"email": "dee@example.com", "password": "mot_de_passe_securise", "tier": "premium", "profile_data": {"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris"}}"#;
    let seed = provisioning::provision(&app.state, jsonl.as_bytes(), Format::JsonLines, &|_| {}).await.unwrap();
    assert_eq!(seed.created, 1, "{seed:?}");
    // A spreadsheet's byte-order mark is not part of the first header.
    let bom = b"\xEF\xBB\xBFusername,password\nhal,a-good-password-4\n";
    let spreadsheet = provisioning::provision(&app.state, bom.as_slice(), Format::Csv, &|_| {}).await.unwrap();
    assert_eq!((spreadsheet.created, spreadsheet.rejected.len()), (1, 0), "{spreadsheet:?}");

    // A drop folder: each CSV and JSON-lines file in name order, the rest left alone.
    let drop = app.data_dir.path().join("drop");
    std::fs::create_dir(&drop).unwrap();
    std::fs::write(drop.join("a.csv"), "username,tier\nfay,premium\n").unwrap();
    std::fs::write(drop.join("b.jsonl"), "{\"username\": \"gus\", \"password\": \"a-good-password-3\"}\nnot json\n")
        .unwrap();
    std::fs::write(drop.join("notes.txt"), "username\nignored\n").unwrap();
    let Output::Provisioning(dropped) =
        automation::execute(&app.state, Job::Provisioning, Some(&drop), &|_| {}).await.unwrap()
    else {
        panic!("a provisioning report")
    };
    assert_eq!((dropped.rows, dropped.created), (3, 1), "{dropped:?}");
    let reasons: Vec<&str> = dropped.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert!(
        reasons[0].starts_with("a.csv: a new account needs a password") && reasons[1].starts_with("b.jsonl: not JSON"),
        "{reasons:?}"
    );

    let runs = ok(&app, "/api/v1/automation/runs?job=provisioning", &admin).await;
    let run = &runs["runs"][0];
    assert_eq!((run["trigger"].clone(), run["counts"]["created"].clone()), (json!("cli"), json!(2)), "{runs}");
    let detail = ok(&app, &format!("/api/v1/automation/runs/{}", run["run_id"].as_str().unwrap()), &admin).await;
    assert_eq!(detail["status"], json!("success"));
    let response = app.get("/api/v1/automation/runs?job=sleep", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::BAD_REQUEST).await, "INVALID_PARAMETERS");
    let response = app.get("/api/v1/automation/runs/run-nope", Some(&admin)).await;
    assert_eq!(error_code(response, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    app.stop().await;
}

/// Two nodes on one PostgreSQL, both scheduling the analytics report every 2 seconds: each
/// slot runs once, on one node or the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_run_each_scheduled_slot_once() {
    let one =
        TestApp::spawn_postgres_with(|config| config.automation.analytics_schedule = "*/2 * * * * *".to_owned()).await;
    let two = one.another_node().await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    let runs = one.state.store.automation_runs(Some("analytics".to_owned()), 100).await.unwrap();
    let mut slots: Vec<i64> = runs.iter().filter_map(|run| run.slot_us).collect();
    assert!(slots.len() >= 3, "a run every 2 s for 9 s: {runs:?}");
    let all = slots.len();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), all, "no slot ran twice: {runs:?}");
    assert!(slots.windows(2).all(|pair| pair[1] - pair[0] >= 2_000_000), "{slots:?}");
    assert!(runs.iter().all(|run| run.trigger == "schedule" && run.status != "failed"), "{runs:?}");
    two.stop().await;
    one.stop().await;
}

/// `footprint automation run-all` on the demo's data, as an operator runs it: it provisions the
/// file, analyses the tiers and writes the report, each recorded; no password is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automation_run_all_works_on_the_demo_data() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_footprint"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("FOOTPRINT_DATA_DIR", data.path())
            .env("RUST_LOG", "error")
            .args(args)
            .output()
            .expect("run footprint")
    };
    let demo = run(&["demo", "--users", "80"]);
    assert!(demo.status.success(), "{}", String::from_utf8_lossy(&demo.stderr));
    let users = data.path().join("users.jsonl");
    std::fs::write(
        &users,
        "{\"email\": \"ops@example.com\", \"tier\": \"enterprise\", \"profile_data\": {\"display_name\": \"Ops\"}}\n\
         {\"username\": \"ops2\", \"password\": \"a-long-enough-password\"}\n\
         not json\n",
    )
    .unwrap();
    let all = run(&["automation", "run-all", "--file", users.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&all.stdout);
    assert!(all.status.success(), "{printed}{}", String::from_utf8_lossy(&all.stderr));
    assert!(printed.contains("3 rows — 2 created, 0 updated, 0 unchanged, 1 invitations"), "{printed}");
    assert!(printed.contains("line 3: not JSON"), "{printed}");
    assert!(printed.contains("analyze-tiers") && printed.contains("generate-analytics"), "{printed}");
    assert!(!printed.contains("a-long-enough-password"), "a password was printed: {printed}");
    let json = run(&["automation", "analyze-tiers", "--json"]);
    let analysis: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert!(
        analysis["tiers"]["accounts"].as_u64().unwrap() >= 5,
        "the demo's accounts and the two new ones: {analysis}"
    );
    let missing = run(&["automation", "provision-users"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--file"));
}
