//! Background work: a training run a crash left behind is failed at the next start (at once on
//! SQLite, once older than `ml.training_timeout_secs` on PostgreSQL, where another node may still
//! be training it), and `GET /api/v1/jobs` shows the runs.

use std::time::Duration;

use footprint_store::{ModelFilter, ModelRecord};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{TestApp, body, test_config};

const HOUR_US: i64 = 3_600_000_000;

fn training_run(id: &str, created_at_us: i64) -> ModelRecord {
    ModelRecord::registered(id, "attendance_predictor", "attendance_predictor", "training", created_at_us)
}

async fn status_of(store: &dyn footprint_store::Store, id: &str) -> (String, Option<String>) {
    let model = store.model(id).await.unwrap().expect("the run is kept");
    (model.status, model.error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_left_training_by_a_crash_is_failed_at_the_next_start_on_sqlite() {
    let data_dir = tempfile::tempdir().unwrap();
    let app = footprint::App::build(test_config(data_dir.path())).await.unwrap();
    let now_us = app.state.clock.now_us();
    // What a node that died mid-training leaves: a run registered as `training`.
    app.state.store.create_model(training_run("model-crashed", now_us)).await.unwrap();
    app.shutdown().await;

    let restarted = footprint::App::build(test_config(data_dir.path())).await.unwrap();
    let (status, error) = status_of(restarted.state.store.as_ref(), "model-crashed").await;
    assert_eq!(status, "error");
    assert_eq!(error.as_deref(), Some(footprint::jobs::INTERRUPTED));
    restarted.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_runs_older_than_the_training_timeout_are_failed_on_postgres() {
    let app = TestApp::spawn_postgres_with(|config| config.ml.training_timeout_secs = Duration::from_secs(3600)).await;
    let now_us = app.state.clock.now_us();
    let store = app.state.store.as_ref();
    store.create_model(training_run("model-abandoned", now_us - 2 * HOUR_US)).await.unwrap();
    store.create_model(training_run("model-on-another-node", now_us - 60_000_000)).await.unwrap();

    // What every node does when it starts.
    let failed = footprint::jobs::fail_interrupted_training(&app.state).await.unwrap();
    let failed: Vec<&str> = failed.iter().map(|m| m.model_id.as_str()).collect();
    assert_eq!(failed, ["model-abandoned"]);
    assert_eq!(status_of(store, "model-abandoned").await.0, "error");
    assert_eq!(status_of(store, "model-on-another-node").await, ("training".to_owned(), None));
    let training = ModelFilter { status: Some("training".to_owned()), ..ModelFilter::default() };
    assert_eq!(store.models(training).await.unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_route_shows_each_run_and_its_outcome() {
    let app = TestApp::spawn().await;
    let started = app.post_json("/api/profile/clusters/update", Some(&app.admin_token), &Value::Null).await;
    assert_eq!(started.status(), StatusCode::ACCEPTED);
    // The run ends quickly (too few users: recorded as a success with nothing to segment).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let segmentation = loop {
        let jobs = body(app.get("/api/v1/jobs", Some(&app.admin_token)).await).await;
        let found = jobs["jobs"].as_array().unwrap().iter().find(|j| j["job"] == "segmentation").cloned();
        if let Some(job) = found.filter(|j| j["running"] == 0) {
            assert!(jobs["running_tasks"].as_u64().unwrap() >= 1, "the processing loop runs: {jobs}");
            break job;
        }
        assert!(tokio::time::Instant::now() < deadline, "the segmentation run never finished: {jobs}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(segmentation["runs"], 1);
    assert_eq!(segmentation["failures"], 0);
    assert_eq!(segmentation["last_outcome"], "success");
    assert!(segmentation["last_started_at"].as_str().unwrap().ends_with('Z'));
    app.stop().await;
}
