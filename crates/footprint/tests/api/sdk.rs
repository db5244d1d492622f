//! The Segment and PostHog APIs (`tracking::sources`): the write key as their SDKs send it,
//! anonymous histories moved to the user who identifies, traits in the declared profile,
//! duplicates refused on resend, and errors the SDKs can log; on both stores. The real SDKs'
//! own test is `sdk_clients.rs`.

use std::io::Write;

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body};

pub async fn granting(postgres: bool) -> TestApp {
    let grant = |config: &mut footprint::Config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    };
    if postgres { TestApp::spawn_postgres_with(grant).await } else { TestApp::spawn_with(grant).await }
}

fn basic(key: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{key}:")))
}

async fn segment(app: &TestApp, key: &str, call: &str, message: &Value) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/{call}")))
        .header("Authorization", basic(key))
        .json(message)
        .send()
        .await
        .unwrap()
}

fn types(events: &[Value]) -> Vec<String> {
    let mut types: Vec<String> = events.iter().map(|event| event["type"].as_str().unwrap().to_owned()).collect();
    types.sort();
    types
}

/// Every stored event counted once in the daily counts and in the global action counts (what
/// processing the log from the start would give), after processing caught up.
async fn derived_counts_match_the_log(app: &TestApp, stored: &[&str]) {
    app.state.processor.catch_up(std::time::Duration::from_secs(10)).await.unwrap();
    let counts = app.state.store.daily_type_counts(0, i64::MAX / 2).await.unwrap();
    assert_eq!(counts.iter().map(|count| count.events).sum::<i64>(), stored.len() as i64, "{counts:?}");
    let mut expected: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for kind in stored {
        *expected.entry((*kind).to_owned()).or_default() += 1;
    }
    let global = app.state.store.sequence_counts(&[(String::new(), String::new())]).await.unwrap();
    let actual: std::collections::BTreeMap<String, i64> =
        global.into_iter().filter(|count| count.count != 0).map(|count| (count.next, count.count)).collect();
    assert_eq!(actual, expected, "the global action counts hold each stored event once");
}

async fn segment_flow(postgres: bool) {
    let app = granting(postgres).await;
    let key = app.ingest_key().await;

    // Before login: an anonymous visitor.
    let tracked = segment(
        &app,
        &key,
        "track",
        &json!({"anonymousId": "anon-1", "event": "Viewed Product",
        "properties": {"sku": "A1"}, "messageId": "m-1", "context": {"ip": "203.0.113.77"}}),
    )
    .await;
    assert_eq!(tracked.status(), StatusCode::OK);
    assert_eq!(body(tracked).await["accepted"], 1);
    let page = body(
        segment(
            &app,
            &key,
            "page",
            &json!({"anonymousId": "anon-1", "name": "Home",
        "properties": {"path": "/"}, "messageId": "m-2"}),
        )
        .await,
    )
    .await;
    assert_eq!(page["accepted"], 1, "{page}");
    assert_eq!(app.events_of("anon-1").await.len(), 2);

    // Login: identify with both ids moves the history and keeps the traits.
    let identified = body(
        segment(
            &app,
            &key,
            "identify",
            &json!({"userId": "ada", "anonymousId": "anon-1",
        "traits": {"display_name": "Ada", "plan": "pro"}, "messageId": "m-3"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (identified["accepted"].as_u64(), identified["linked"].as_u64(), identified["moved"].as_u64()),
        (Some(1), Some(1), Some(2)),
        "{identified}"
    );
    assert_eq!(identified["traits_updated"], 1);
    assert!(app.events_of("anon-1").await.is_empty(), "the anonymous history moved");
    let ada = app.events_of("ada").await;
    assert_eq!(types(&ada), ["Viewed Product", "identify", "page_view"]);
    let viewed = ada.iter().find(|event| event["type"] == "Viewed Product").unwrap();
    assert_eq!(viewed["context"]["ip"], "203.0.113.0", "the IP stays truncated");
    assert_eq!(viewed["context"]["merged_from"], "anon-1");
    assert_eq!(viewed["message_id"], "m-1");
    assert!(ada.iter().all(|event| event["session_id"] == ada[0]["session_id"]), "the visit is one session: {ada:?}");
    let profile = body(app.get("/api/profile/ada", Some(&app.admin_token)).await).await;
    assert_eq!(profile["declared"]["display_name"], "Ada", "{profile}");
    // Ada's own export names the anonymous id found to be her.
    let export = body(app.get("/api/v1/users/ada/export", Some(&app.admin_token)).await).await;
    let links = export["identity_links"].as_array().expect("identity_links");
    assert_eq!(links.iter().map(|link| link["anonymous_id"].as_str().unwrap()).collect::<Vec<_>>(), ["anon-1"]);

    // After: the anonymous id alone is Ada; a resent message is stored once.
    let later = body(
        segment(&app, &key, "track", &json!({"anonymousId": "anon-1", "event": "Added to Cart", "messageId": "m-4"}))
            .await,
    )
    .await;
    assert_eq!(later["accepted"], 1);
    let resent = body(
        segment(&app, &key, "track", &json!({"anonymousId": "anon-1", "event": "Viewed Product", "messageId": "m-1"}))
            .await,
    )
    .await;
    assert_eq!(resent["duplicate"], 1, "{resent}");
    assert_eq!(app.events_of("ada").await.len(), 4);
    assert!(app.events_of("anon-1").await.is_empty());

    // A batch with the write key in the body, an alias, a group, a screen and a bad message.
    let batch = json!({"writeKey": key, "sentAt": "2026-12-01T10:00:10Z", "batch": [
        {"type": "track", "anonymousId": "device-7", "event": "Opened App", "timestamp": "2026-12-01T10:00:00Z", "messageId": "b-1"},
        {"type": "screen", "anonymousId": "device-7", "name": "Settings", "messageId": "b-2"},
        {"type": "alias", "previousId": "device-7", "userId": "ada"},
        {"type": "group", "userId": "ada", "groupId": "acme", "traits": {"employees": 12}, "messageId": "b-3"},
        {"type": "track", "userId": "ada"}
    ]});
    let response = app.client.post(app.url("/v1/batch")).json(&batch).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!(
        (report["received"].as_u64(), report["accepted"].as_u64(), report["linked"].as_u64(), report["moved"].as_u64()),
        (Some(5), Some(3), Some(1), Some(0)),
        "device-7's events in the same request go to Ada directly: {report}"
    );
    assert_eq!(report["rejected"], json!([{"index": 4, "reason": "event: is required for track (its name)"}]));
    let ada = app.events_of("ada").await;
    assert_eq!(
        types(&ada),
        ["Added to Cart", "Opened App", "Viewed Product", "group", "identify", "page_view", "screen_view"]
    );
    let opened = ada.iter().find(|event| event["type"] == "Opened App").unwrap();
    // The client's clock ran ahead: its 10:00:00 is 10 s before it sent, counted back from arrival.
    assert_ne!(opened["timestamp"], "2026-12-01T10:00:00Z");
    assert!(app.events_of("device-7").await.is_empty());
    derived_counts_match_the_log(
        &app,
        &["Added to Cart", "Opened App", "Viewed Product", "group", "identify", "page_view", "screen_view"],
    )
    .await;

    // Consent: Segment's categories; no analytics consent, nothing stored.
    let refused = body(
        segment(
            &app,
            &key,
            "track",
            &json!({"userId": "bob", "event": "x",
        "context": {"consent": {"categoryPreferences": {"Analytics": false, "Advertising": true}}}}),
        )
        .await,
    )
    .await;
    assert_eq!(refused["not_collected"], 1, "{refused}");
    assert!(app.events_of("bob").await.is_empty());
}

#[tokio::test]
async fn segment_calls_store_merge_and_deduplicate_on_sqlite() {
    segment_flow(false).await;
}

#[tokio::test]
async fn segment_calls_store_merge_and_deduplicate_on_postgres() {
    segment_flow(true).await;
}

fn gzip(value: &Value) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(value.to_string().as_bytes()).unwrap();
    encoder.finish().unwrap()
}

async fn posthog_flow(postgres: bool) {
    let app = granting(postgres).await;
    let key = app.ingest_key().await;
    let batch = json!({"api_key": key, "batch": [
        {"event": "$pageview", "distinct_id": "anon-ph", "uuid": "018f-1", "properties": {"$current_url": "https://shop.example/"}},
        {"event": "clicked buy", "distinct_id": "anon-ph", "uuid": "018f-2", "properties": {"button": "buy"}},
    ]});
    let response =
        app.client.post(app.url("/batch/")).header("Content-Encoding", "gzip").body(gzip(&batch)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = body(response).await;
    assert_eq!((report["status"].as_i64(), report["accepted"].as_u64()), (Some(1), Some(2)), "{report}");

    // posthog-js's identify, sent as one event to /capture.
    let identify = json!({"api_key": key, "event": "$identify", "distinct_id": "grace", "uuid": "018f-3",
        "properties": {"$anon_distinct_id": "anon-ph", "$set": {"display_name": "Grace"}}});
    let report = body(app.client.post(app.url("/capture/")).json(&identify).send().await.unwrap()).await;
    assert_eq!(
        (report["linked"].as_u64(), report["moved"].as_u64(), report["traits_updated"].as_u64()),
        (Some(1), Some(2), Some(1)),
        "{report}"
    );
    assert_eq!(types(&app.events_of("grace").await), ["clicked buy", "identify", "page_view"]);
    assert!(app.events_of("anon-ph").await.is_empty());
    // `$set_once` fills only what the profile lacks; `$set` replaces.
    let set = json!({"api_key": key, "event": "$set", "distinct_id": "grace",
        "properties": {"$set_once": {"display_name": "Not Grace", "first_plan": "free"}, "$set": {"plan": "pro"}}});
    let report = body(app.client.post(app.url("/capture/")).json(&set).send().await.unwrap()).await;
    assert_eq!(report["traits_updated"], 1, "{report}");
    let declared = body(app.get("/api/profile/grace", Some(&app.admin_token)).await).await["declared"].clone();
    assert_eq!(
        (&declared["display_name"], &declared["first_plan"], &declared["plan"]),
        (&json!("Grace"), &json!("free"), &json!("pro")),
        "{declared}"
    );

    // posthog-js's array with its token, base64 in a form, at /e/; a resend is a duplicate.
    let array =
        json!([{"event": "clicked buy", "uuid": "018f-2", "properties": {"token": key, "distinct_id": "anon-ph"}}]);
    let data = base64::engine::general_purpose::STANDARD.encode(array.to_string());
    let form = format!("data={}", data.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"));
    let response = app.client.post(app.url("/e/")).body(form).send().await.unwrap();
    let report = body(response).await;
    assert_eq!(report["duplicate"], 1, "{report}");
    derived_counts_match_the_log(&app, &["clicked buy", "identify", "page_view"]).await;
}

#[tokio::test]
async fn posthog_capture_stores_merges_and_deduplicates_on_sqlite() {
    posthog_flow(false).await;
}

#[tokio::test]
async fn posthog_capture_stores_merges_and_deduplicates_on_postgres() {
    posthog_flow(true).await;
}

#[tokio::test]
async fn write_keys_are_checked_and_errors_are_in_the_sdks_shapes() {
    let app = granting(false).await;
    let message = json!({"userId": "u1", "event": "x"});
    // No key.
    let response = app.client.post(app.url("/v1/track")).json(&message).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let error = body(response).await;
    assert_eq!((error["code"].as_str(), error["error"]["code"].as_str()), (Some("UNAUTHORIZED"), Some("UNAUTHORIZED")));
    assert!(error["message"].as_str().unwrap().contains("write key"), "{error}");
    assert_eq!(error["detail"], error["message"]);
    // An unknown key, as Segment and as PostHog send it.
    assert_eq!(segment(&app, "fp_nope_secret", "track", &message).await.status(), StatusCode::UNAUTHORIZED);
    let posthog = json!({"api_key": "fp_nope_secret", "event": "x", "distinct_id": "u1"});
    assert_eq!(
        app.client.post(app.url("/capture")).json(&posthog).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A key without the ingest scope.
    let (metrics_key, record) = footprint::accounts::api_key::generate(
        "scraper",
        vec!["metrics".to_owned()],
        footprint_analytics::Tier::Free,
        footprint::kernel::clock::to_us(time::OffsetDateTime::now_utc()),
    );
    app.state.store.insert_api_key(record).await.unwrap();
    let refused = segment(&app, &metrics_key, "track", &message).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // A user's token may track only themself.
    let user_token = app.user_with_role("sdk-user", footprint_analytics::Role::User).await;
    let response = app
        .client
        .post(app.url("/v1/track"))
        .bearer_auth(&user_token)
        .json(&json!({"userId": "someone-else", "event": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let key = app.ingest_key().await;
    // Unknown call, bad JSON, bad gzip, an empty batch.
    assert_eq!(segment(&app, &key, "teleport", &message).await.status(), StatusCode::NOT_FOUND);
    let bad =
        app.client.post(app.url("/v1/batch")).header("Authorization", basic(&key)).body("{").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad_gzip =
        app.client.post(app.url("/batch")).header("Content-Encoding", "gzip").body("nope").send().await.unwrap();
    assert_eq!(bad_gzip.status(), StatusCode::BAD_REQUEST);
    let empty = segment(&app, &key, "batch", &json!({"batch": []})).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(app.events_of("u1").await.is_empty(), "nothing was stored by refused requests");
}
