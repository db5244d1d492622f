//! PostHog's own browser library, `posthog-js` (from npm, at the version pinned in
//! `sdk_clients/package.json`), in Debian's headless Chromium on a shop page of another origin,
//! pointed at Footprint with a publishable key: it reads its remote configuration, sends its
//! page view, a captured event and an identify (gzip bodies), and they land under the user who
//! identified — the anonymous history joined, the IP truncated — while the page's `$set` traits
//! are not taken (a public key does not write profiles) and no request to Footprint fails. Over
//! HTTP: the same key from another origin is refused and unreadable, and a preflight is answered.

use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::get;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cdp::{Browser, chromium};
use crate::helpers::{TestApp, body};
use crate::sdk_clients::clients_dir;
use crate::tracker::{browser_key, events_when, serve_shop, shop_origin};

/// The shop's page: the library served by the shop itself, initialised on Footprint.
fn shop_page(footprint: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>Shop</title>
<script src="/posthog.js"></script>
<script>
  posthog.init('{key}', {{api_host: '{footprint}', autocapture: false, capture_pageview: true,
    disable_session_recording: true, persistence: 'localStorage'}});
</script></head><body><h1>Shop</h1></body></html>"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posthog_js_in_a_page_sends_to_footprint_with_a_publishable_key() {
    let script_path = clients_dir().join("node_modules/posthog-js/dist/array.no-external.js");
    let script = std::fs::read_to_string(&script_path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run `bash .ci/test`, which installs the SDKs into target/sdk-clients",
            script_path.display()
        )
    });
    let app = TestApp::spawn_with(|config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
    })
    .await;
    let (listener, shop) = shop_origin().await;
    let key = browser_key(&app, &[&shop]).await;
    let served = move || {
        let script = script.clone();
        async move { ([("content-type", "text/javascript")], script).into_response() }
    };
    serve_shop(listener, axum::Router::new().route("/posthog.js", get(served)), shop_page(&app.address, &key));

    let browser = Browser::launch(&chromium()).await.unwrap();
    let page = browser.new_page().await.unwrap();
    // posthog-js drops what a driven, headless browser sends (it takes it for a bot): the page is
    // a visitor's desktop Chrome.
    let visitor =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    page.command("Emulation.setUserAgentOverride", json!({"userAgent": visitor})).await.unwrap();
    let not_driven = "Object.defineProperty(Navigator.prototype, 'webdriver', {get() { return false; }});";
    page.command("Page.addScriptToEvaluateOnNewDocument", json!({"source": not_driven})).await.unwrap();
    page.goto(&format!("{shop}/")).await.unwrap();
    let mut ready = Value::Null;
    for _ in 0..100 {
        ready = page.eval("!!(window.posthog && window.posthog.__loaded)").await.unwrap();
        if ready == json!(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ready, json!(true), "posthog-js did not load: {:?}", page.problems());
    let anonymous = page.eval("posthog.get_distinct_id()").await.unwrap();
    page.eval("posthog.capture('clicked_buy', {plan: 'pro'})").await.unwrap();
    page.eval("posthog.identify('ph-shopper', {display_name: 'Mallory'})").await.unwrap();

    let events = events_when(&app, "ph-shopper", 3).await;
    let mut kinds: Vec<&str> = events.iter().map(|event| event["type"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["clicked_buy", "identify", "page_view"], "{events:?}");
    let clicked = events.iter().find(|event| event["type"] == "clicked_buy").unwrap();
    assert_eq!(clicked["properties"]["plan"], json!("pro"), "{clicked}");
    for event in &events {
        assert_eq!(event["context"]["ip"], "127.0.0.0", "the IP is truncated: {event}");
    }
    assert!(app.events_of(anonymous.as_str().unwrap()).await.is_empty(), "the anonymous history joined the user");
    let profile = body(app.get("/api/profile/ph-shopper", Some(&app.admin_token)).await).await;
    assert!(profile["declared"].get("display_name").is_none(), "a page's traits are not taken: {profile}");
    let failed: Vec<String> = page.problems().into_iter().filter(|problem| problem.contains(&app.address)).collect();
    assert!(failed.is_empty(), "every request to Footprint succeeded: {failed:?}");
    browser.close().await.unwrap();

    // From another origin the key is refused, and the refusal carries no CORS permission.
    let event = json!({"api_key": key, "batch": [{"event": "x", "distinct_id": "v9", "properties": {}}]});
    let refused =
        app.client.post(app.url("/e/")).header("Origin", "https://elsewhere.example").json(&event).send().await;
    let refused = refused.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("access-control-allow-origin").is_none());
    // Without an Origin (not from a page) too.
    let bare = app.client.post(app.url("/e/")).json(&event).send().await.unwrap();
    assert_eq!(bare.status(), StatusCode::FORBIDDEN);
    // From the shop: accepted, readable by the shop.
    let accepted = app.client.post(app.url("/e/")).header("Origin", &shop).json(&event).send().await.unwrap();
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(accepted.headers()["access-control-allow-origin"], shop.as_str());
    // The remote configuration and the flags, for the shop only.
    let config = app.client.get(app.url(&format!("/array/{key}/config"))).header("Origin", &shop).send().await.unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    let config: Value = config.json().await.unwrap();
    assert_eq!((config["hasFeatureFlags"].clone(), config["sessionRecording"].clone()), (json!(false), json!(false)));
    let elsewhere =
        app.client.get(app.url(&format!("/array/{key}/config"))).header("Origin", "https://elsewhere.example");
    assert_eq!(elsewhere.send().await.unwrap().status(), StatusCode::FORBIDDEN);
    // A server's key is refused there (it does not belong in a URL).
    let server_key = app.ingest_key().await;
    let refused = app.client.get(app.url(&format!("/array/{server_key}/config"))).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let flags = app.client.post(app.url("/flags/?v=2")).header("Origin", &shop).json(&json!({"token": key}));
    let flags: Value = flags.send().await.unwrap().json().await.unwrap();
    assert_eq!(flags["flags"], json!({}), "{flags}");
    // A preflight (a page sending JSON) is answered for the asking origin.
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/i/v0/e/"))
        .header("Origin", &shop)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(preflight.headers()["access-control-allow-origin"], shop.as_str());
    // The key cannot read.
    let read = app.get("/api/v1/events?limit=1", Some(&key)).await;
    assert_eq!(read.status(), StatusCode::FORBIDDEN);
}
