//! Outbound webhooks against a receiver started by the test on 127.0.0.1: a signed delivery of
//! the subscribed event types only, retried after the receiver failed, every attempt visible;
//! a delivery queued while the receiver is down survives a restart; no user data for a user
//! without analytics consent; `model.trained`; the routes' checks and permissions.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode as AxumStatus};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;

use crate::helpers::{TestApp, body, error_code};

const SECRET: &str = "a-very-secret-value-123";

/// What the receiver got: each request's headers, body, and the status it answered.
#[derive(Clone, Default)]
pub(crate) struct Received(Arc<Mutex<Vec<(HeaderMap, String, u16)>>>);

impl Received {
    pub(crate) fn all(&self) -> Vec<(HeaderMap, String, u16)> {
        self.0.lock().unwrap().clone()
    }
}

/// A receiver on `listener` that answers 500 to its first `failures` requests, then 200.
pub(crate) fn receive(listener: tokio::net::TcpListener, failures: usize) -> Received {
    let received = Received::default();
    let log = received.clone();
    let router = axum::Router::new().fallback(move |headers: HeaderMap, text: String| {
        let log = log.clone();
        async move {
            let mut all = log.0.lock().unwrap();
            let status = if all.len() < failures { 500 } else { 200 };
            all.push((headers, text, status));
            AxumStatus::from_u16(status).unwrap()
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    received
}

pub(crate) async fn listener() -> (tokio::net::TcpListener, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

pub(crate) fn quick(config: &mut footprint::Config) {
    config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    config.webhooks.poll_ms = Duration::from_millis(50);
    config.webhooks.retry_base_ms = Duration::from_millis(100);
    config.webhooks.retry_max_ms = Duration::from_millis(400);
}

async fn subscribe(app: &TestApp, url: &str, kinds: Value, types: Value) -> Value {
    let response = app
        .post_json(
            "/api/v1/webhooks",
            Some(&app.admin_token),
            &json!({"url": url, "kinds": kinds, "event_types": types, "secret": SECRET}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body(response).await
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Value> {
    let response = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&app.admin_token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await.as_array().unwrap().clone()
}

/// Polls until `done` holds for the webhook's deliveries (at most 20 s).
async fn deliveries_when(app: &TestApp, id: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..200 {
        last = deliveries(app, id).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the deliveries never got there: {last:?}");
}

fn verify(headers: &HeaderMap, body: &str) {
    let signature = headers["footprint-signature"].to_str().unwrap();
    let (t, v1) = signature.split_once(",v1=").unwrap();
    let t: i64 = t.strip_prefix("t=").unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((now - t).abs() < 120, "the timestamp is the sending time");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&hex::decode(v1).unwrap()).expect("the signature is HMAC-SHA256 of t.body with the secret");
}

async fn delivers_signed_and_retries(postgres: bool) {
    let app = if postgres { TestApp::spawn_postgres_with(quick).await } else { TestApp::spawn_with(quick).await };
    let (listener, address) = listener().await;
    let received = receive(listener, 2);
    let hook = subscribe(&app, &format!("http://{address}/hooks"), json!(["event"]), json!(["purchase"])).await;
    assert!(hook.get("secret").is_none(), "a given secret is not echoed");
    let id = hook["id"].as_str().unwrap().to_owned();

    let purchase = json!({"user_id": "u1", "type": "purchase", "properties": {"amount": 30}});
    assert_eq!(app.track(&app.admin_token, &purchase).await.status(), StatusCode::OK);
    assert_eq!(app.track(&app.admin_token, &json!({"user_id": "u1", "type": "click"})).await.status(), StatusCode::OK);

    let done = deliveries_when(&app, &id, |all| all.iter().any(|delivery| delivery["status"] == "delivered")).await;
    assert_eq!(done.len(), 1, "only the subscribed type: {done:?}");
    let delivery = &done[0];
    assert_eq!(delivery["attempts"], 3);
    let codes: Vec<i64> =
        delivery["log"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 500, 200], "every attempt is logged");
    assert!(delivery["log"][0]["error"].as_str().unwrap().contains("500"));

    let all = received.all();
    assert_eq!(all.len(), 3, "two refused, one accepted");
    let (headers, text, _) = &all[2];
    verify(headers, text);
    assert_eq!(headers["footprint-kind"], "event");
    assert_eq!(headers["footprint-webhook-id"], id.as_str());
    let payload: Value = serde_json::from_str(text).unwrap();
    assert_eq!((payload["kind"].as_str(), payload["data"]["type"].as_str()), (Some("event"), Some("purchase")));
    assert_eq!(
        (payload["data"]["user_id"].as_str(), payload["data"]["properties"]["amount"].as_i64()),
        (Some("u1"), Some(30))
    );
    assert_eq!(all[0].1, *text, "a retry sends the same body");

    // What was sent about u1 is in u1's privacy export.
    let export = body(app.get("/api/v1/users/u1/export", Some(&app.admin_token)).await).await;
    let sent = export["webhook_deliveries"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{export}");
    assert_eq!(
        (sent[0]["status"].as_str(), sent[0]["payload"]["data"]["type"].as_str()),
        (Some("delivered"), Some("purchase"))
    );
    assert_eq!(export["webhook_deliveries_truncated"], false);

    let listed = body(app.get("/api/v1/webhooks", Some(&app.admin_token)).await).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(listed[0].get("secret").is_none());
    let removed = app.client.delete(app.url(&format!("/api/v1/webhooks/{id}"))).bearer_auth(&app.admin_token).send();
    assert_eq!(removed.await.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/api/v1/webhooks/{id}/deliveries"), Some(&app.admin_token)).await;
    assert_eq!(error_code(gone, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_signed_retried_and_logged_on_sqlite() {
    delivers_signed_and_retries(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_is_signed_retried_and_logged_on_postgres() {
    delivers_signed_and_retries(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_survives_a_restart_while_the_receiver_is_down() {
    let app = TestApp::spawn_with(quick).await;
    // A port with nobody behind it yet.
    let (probe, address) = listener().await;
    drop(probe);
    let hook = subscribe(&app, &format!("http://{address}/hooks"), json!(["event"]), json!([])).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    assert_eq!(app.track(&app.admin_token, &json!({"user_id": "u9", "type": "signup"})).await.status(), StatusCode::OK);
    let failing =
        deliveries_when(&app, &id, |all| all.first().is_some_and(|delivery| delivery["attempts"].as_i64() >= Some(1)))
            .await;
    assert_eq!(failing[0]["status"], "pending");
    assert!(failing[0]["log"][0]["status_code"].is_null() && failing[0]["log"][0]["error"].is_string(), "{failing:?}");

    let app = app.restart().await;
    let received = receive(tokio::net::TcpListener::bind(address).await.unwrap(), 0);
    let done =
        deliveries_when(&app, &id, |all| all.first().is_some_and(|delivery| delivery["status"] == "delivered")).await;
    assert_eq!(done.len(), 1);
    let attempts = done[0]["attempts"].as_i64().unwrap();
    assert!(attempts >= 2 && done[0]["log"].as_array().unwrap().len() as i64 == attempts, "{done:?}");
    let all = received.all();
    assert_eq!(all.len(), 1);
    let payload: Value = serde_json::from_str(&all[0].1).unwrap();
    assert_eq!(payload["data"]["type"], "signup");
    verify(&all[0].0, &all[0].1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_user_data_leaves_for_a_user_without_consent_and_trained_models_are_announced() {
    // The loop sleeps: the test dispatches itself.
    let app = TestApp::spawn_with(|config| config.webhooks.poll_ms = Duration::from_secs(3_600)).await;
    let hook = subscribe(&app, "http://127.0.0.1:9/hooks", json!(["event", "model.trained"]), json!([])).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    app.grant_consent("u2").await;
    assert_eq!(app.track(&app.admin_token, &json!({"user_id": "u2", "type": "viewed"})).await.status(), StatusCode::OK);
    let withdraw = [("user_id", "u2"), ("analytics", "false")];
    assert_eq!(
        app.post_query("/api/tracking/consent", Some(&app.admin_token), &withdraw).await.status(),
        StatusCode::OK
    );
    assert_eq!(footprint::webhooks::service::dispatch_events(&app.state).await.unwrap(), 1);
    assert!(deliveries(&app, &id).await.is_empty(), "consent withdrawn before dispatch: nothing about u2 leaves");

    app.grant_consent("u2").await;
    assert_eq!(app.track(&app.admin_token, &json!({"user_id": "u2", "type": "bought"})).await.status(), StatusCode::OK);
    assert_eq!(footprint::webhooks::service::dispatch_events(&app.state).await.unwrap(), 1);
    assert_eq!(footprint::webhooks::service::dispatch_events(&app.state).await.unwrap(), 0, "each event once");
    let queued = deliveries(&app, &id).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["payload"]["data"]["type"], "bought");

    let model = footprint_store::ModelRecord {
        model_id: "m-1".into(),
        name: "attendance".into(),
        model_type: "logistic".into(),
        version: 3,
        status: "ready".into(),
        hyperparameters: "{}".into(),
        data_window: "{}".into(),
        metrics: r#"{"auc": 0.73}"#.into(),
        parameters: "{}".into(),
        rows_used: 1200,
        error: None,
        predictions: 0,
        created_at_us: 1,
        trained_at_us: Some(2),
    };
    footprint::webhooks::model_trained(&app.state, &model).await;
    let queued = deliveries(&app, &id).await;
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0]["kind"], "model.trained");
    assert_eq!(
        queued[0]["payload"]["data"],
        json!({"model_id": "m-1", "name": "attendance", "version": 3,
        "status": "ready", "error": null, "rows_used": 1200, "metrics": {"auc": 0.73}})
    );
}

#[tokio::test]
async fn webhook_routes_check_their_input_and_their_callers() {
    let app = TestApp::spawn().await;
    for (hook, field) in [
        (json!({"url": "ftp://example.com/x", "kinds": ["event"]}), "url"),
        (json!({"url": "http://", "kinds": ["event"]}), "url"),
        (json!({"url": "https://example.com/x", "kinds": ["churn.risk"]}), "kinds"),
        (json!({"url": "https://example.com/x", "kinds": []}), "kinds"),
        (json!({"url": "https://example.com/x", "kinds": ["event"], "secret": "short"}), "secret"),
        (
            json!({"url": "https://example.com/x", "kinds": ["churn.risk_crossed"], "churn_threshold": 1.5}),
            "churn_threshold",
        ),
        (
            json!({"url": "https://example.com/x", "kinds": ["churn.risk_crossed"], "churn_threshold": 0}),
            "churn_threshold",
        ),
        (json!({"url": "https://example.com/x", "kinds": ["event"], "churn_threshold": 0.4}), "churn_threshold"),
    ] {
        let response = app.post_json("/api/v1/webhooks", Some(&app.admin_token), &hook).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{hook}");
        let answer = body(response).await;
        assert!(answer["error"]["message"].as_str().unwrap().starts_with(field), "{answer}");
    }
    let generated = app
        .post_json(
            "/api/v1/webhooks",
            Some(&app.admin_token),
            &json!({"url": "https://example.com/x", "kinds": ["event"]}),
        )
        .await;
    assert_eq!(generated.status(), StatusCode::CREATED);
    let generated = body(generated).await;
    assert!(generated["secret"].as_str().unwrap().starts_with("whsec_"), "a generated secret is shown once");
    assert!(generated.get("churn_threshold").is_none(), "{generated}");
    let watching = app
        .post_json(
            "/api/v1/webhooks",
            Some(&app.admin_token),
            &json!({"url": "https://example.com/y", "kinds": ["churn.risk_crossed", "anomaly.detected"]}),
        )
        .await;
    assert_eq!(watching.status(), StatusCode::CREATED);
    assert_eq!(body(watching).await["churn_threshold"], json!(0.6), "the default threshold is shown");
    let id = generated["id"].as_str().unwrap().to_owned();

    let manager = app.user_with_role("hook-manager", footprint_analytics::Role::Manager).await;
    let routes = [
        ("POST", "/api/v1/webhooks".to_owned()),
        ("GET", "/api/v1/webhooks".to_owned()),
        ("DELETE", format!("/api/v1/webhooks/{id}")),
        ("GET", format!("/api/v1/webhooks/{id}/deliveries")),
    ];
    for (method, path) in &routes {
        let request = |token: Option<&str>| {
            let builder = app
                .client
                .request(method.parse().unwrap(), app.url(path))
                .json(&json!({"url": "https://x.example", "kinds": ["event"]}));
            match token {
                Some(token) => builder.bearer_auth(token),
                None => builder,
            }
        };
        assert_eq!(request(None).send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(
            request(Some("not-a-token")).send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(request(Some(&manager)).send().await.unwrap().status(), StatusCode::FORBIDDEN, "{method} {path}");
    }
    let missing =
        app.client.delete(app.url("/api/v1/webhooks/wh_nope")).bearer_auth(&app.admin_token).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_changing_segment_is_announced_if_they_consent() {
    use footprint::tools::demo::{self, DemoOptions, ProgressBar};
    let app = TestApp::spawn_with(|config| config.webhooks.poll_ms = Duration::from_secs(3_600)).await;
    demo::load(&app.state, &DemoOptions { users: 80, seed: 11, force: false }, &ProgressBar::hidden()).await.unwrap();
    let hook = subscribe(&app, "http://127.0.0.1:9/hooks", json!(["segment.changed"]), json!([])).await;
    let id = hook["id"].as_str().unwrap().to_owned();

    // The demo's run, and the same users with two of them in another segment.
    let run = app.state.store.cluster_runs(1).await.unwrap().remove(0);
    let model: footprint_analytics::segmentation::SegmentModel = serde_json::from_str(&run.model).unwrap();
    assert!(model.k >= 2 && model.segments[0].name != model.segments[1].name, "{:?}", model.segments);
    let mut assignments = Vec::new();
    for cluster in 0..run.k {
        assignments.extend(app.state.store.cluster_members(&run.run_id, cluster, 10_000).await.unwrap());
    }
    let movers: Vec<usize> =
        assignments.iter().enumerate().filter(|(_, a)| a.cluster == 0).map(|(at, _)| at).take(2).collect();
    assert_eq!(movers.len(), 2);
    let ids = app
        .state
        .store
        .user_ids_of(&movers.iter().map(|at| assignments[*at].user_key.clone()).collect::<Vec<_>>())
        .await
        .unwrap();
    let id_of = |key: &str| ids.iter().find(|(k, _)| k == key).unwrap().1.clone();
    let (moving, refusing) = (id_of(&assignments[movers[0]].user_key), id_of(&assignments[movers[1]].user_key));
    app.grant_consent(&moving).await;
    let withdraw = [("user_id", refusing.as_str()), ("analytics", "false")];
    assert_eq!(
        app.post_query("/api/tracking/consent", Some(&app.admin_token), &withdraw).await.status(),
        StatusCode::OK
    );
    for at in &movers {
        assignments[*at].cluster = 1;
    }
    // As a segmentation run does: who was where is read, then the new run replaces the stored
    // assignments, then the movers are announced.
    let next = footprint_store::ClusterRun { run_id: "next-run".into(), ..run.clone() };
    let before = footprint::webhooks::service::segments_before(&app.state, &run).await.expect("a hook wants it");
    app.state.store.save_cluster_run(next.clone(), assignments.clone()).await.unwrap();
    footprint::webhooks::service::segments_changed(&app.state, before, &next, &assignments).await;

    let queued = deliveries(&app, &id).await;
    assert_eq!(queued.len(), 1, "one mover consents: {queued:?}");
    let data = &queued[0]["payload"]["data"];
    assert_eq!(data["user_id"], moving.as_str());
    assert_eq!(data["previous"]["name"], model.segments[0].name.as_str());
    assert_eq!(data["segment"]["name"], model.segments[1].name.as_str());
    assert_eq!(data["run_id"], "next-run");
}
