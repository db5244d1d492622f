//! The browser tracker (`/footprint.js` and `/api/collect`) in Debian's headless Chromium: a
//! shop page served by the test, on another origin than Footprint's, with the script tag. Nothing
//! leaves the page before consent; then page views (single-page navigation included), a marked
//! click and an identify land in the store under the user, one session, the IP truncated; a
//! withdrawal is recorded and stops the sending; the same page under Do-Not-Track sends nothing.
//! Over HTTP: a publishable key from another origin, or used to read, is refused; preflight; the
//! per-IP budget; the script's gzipped size.

use std::io::Write;
use std::time::Duration;

use axum::response::Html;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cdp::{Browser, Page, chromium};
use crate::helpers::{TestApp, body};

pub(crate) async fn browser_key(app: &TestApp, origins: &[&str]) -> String {
    let origins: Vec<String> =
        origins.iter().map(|origin| footprint::accounts::api_key::origin(origin).unwrap()).collect();
    let now = footprint::kernel::clock::to_us(time::OffsetDateTime::now_utc());
    let (secret, record) =
        footprint::accounts::api_key::generate_browser("shop", &origins, footprint_analytics::Tier::Vip, now);
    app.state.store.insert_api_key(record).await.unwrap();
    secret
}

/// The shop: two pages with the tag, a button that navigates in place, a marked button.
fn shop_page(footprint: &str, key: &str) -> String {
    format!(
        r#"<!doctype html><html><head><title>Shop</title>
<script>
  // Counts what the page sends to Footprint, whichever way.
  window.__sent = [];
  const originalFetch = window.fetch;
  window.fetch = function (url, options) {{ window.__sent.push(String(url)); return originalFetch.apply(this, arguments); }};
  const originalBeacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = function (url, data) {{ window.__sent.push(String(url)); return originalBeacon(url, data); }};
</script>
<script defer src="{footprint}/footprint.js" data-key="{key}"></script></head>
<body><h1>Shop</h1>
<button id="next" onclick="history.pushState({{}}, '', '/shop/cart')">Cart</button>
<button id="buy" data-fp-event="clicked_buy" data-fp-plan="pro"><span>Buy</span></button>
</body></html>"#
    )
}

async fn loaded(page: &Page) {
    for _ in 0..100 {
        if page.eval("!!(window.footprint && window.footprint.version)").await.unwrap() == json!(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("footprint.js did not load: {:?}", page.problems());
}

/// A listener for the shop's own server, and its origin (another one than Footprint's).
pub(crate) async fn shop_origin() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    (listener, origin)
}

/// Serves the shop: `routes`, and `html` for every other path.
pub(crate) fn serve_shop(listener: tokio::net::TcpListener, routes: axum::Router, html: String) {
    let router = routes.fallback(move || {
        let html = html.clone();
        async move { Html(html) }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
}

/// Waits past the tracker's one-second batching, then answers how many requests it sent.
async fn sent_after_the_batch_timer(page: &Page) -> usize {
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    page.eval("window.__sent.length").await.unwrap().as_u64().unwrap() as usize
}

/// Polls the store until `user` has `count` events (at most 30 s: posthog-js sends every few
/// seconds).
pub(crate) async fn events_when(app: &TestApp, user: &str, count: usize) -> Vec<Value> {
    let mut events = Vec::new();
    for _ in 0..300 {
        events = app.events_of(user).await;
        if events.len() >= count {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{user} has {} events, {count} expected: {events:?}", events.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tracker_sends_only_what_consent_allows_from_a_real_browser() {
    let app = TestApp::spawn().await;
    // The shop's page names the key, and the key names the shop's origin.
    let (listener, shop) = shop_origin().await;
    let key = browser_key(&app, &[&shop]).await;
    let html = shop_page(&app.address, &key);
    serve_shop(listener, axum::Router::new(), html);

    let browser = Browser::launch(&chromium()).await.unwrap();
    let page = browser.new_page().await.unwrap();
    page.goto(&format!("{shop}/")).await.unwrap();
    loaded(&page).await;

    // Before consent: the page view and a track call stay in the page.
    page.eval("footprint.track('before_consent')").await.unwrap();
    assert_eq!(sent_after_the_batch_timer(&page).await, 0, "nothing is sent before consent");
    assert_eq!(page.eval("localStorage.length").await.unwrap(), json!(0), "no id is kept before consent");

    // Consent, in-app navigation, a marked click, then login.
    page.eval("footprint.consent({analytics: true, preferences: false, improvement: false})").await.unwrap();
    page.eval("document.getElementById('next').click()").await.unwrap();
    page.eval("document.querySelector('#buy span').click()").await.unwrap();
    page.eval("footprint.identify('shopper-1')").await.unwrap();
    let events = events_when(&app, "shopper-1", 5).await;
    let mut kinds: Vec<(String, Value)> =
        events.iter().map(|event| (event["type"].as_str().unwrap().to_owned(), event["properties"].clone())).collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    let names: Vec<&str> = kinds.iter().map(|(kind, _)| kind.as_str()).collect();
    assert_eq!(names, ["clicked_buy", "consent_updated", "identify", "page_view", "page_view"], "{events:?}");
    assert_eq!(kinds[0].1, json!({"plan": "pro"}));
    let mut paths: Vec<&str> = kinds[3..].iter().map(|(_, properties)| properties["path"].as_str().unwrap()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/", "/shop/cart"], "the pushState navigation is a page view");
    for event in &events {
        assert_eq!(event["context"]["ip"], "127.0.0.0", "the IP is truncated: {event}");
        assert_eq!(event["session_id"], events[0]["session_id"], "one session");
    }
    assert!(events.iter().all(|event| event["type"] != "before_consent"));
    let anonymous = page.eval("localStorage.getItem('fp_anonymous_id')").await.unwrap();
    assert!(anonymous.is_string(), "the anonymous id is kept once consent allows it");
    assert!(app.events_of(anonymous.as_str().unwrap()).await.is_empty(), "its history joined the user");
    assert_eq!(page.eval("localStorage.getItem('fp_user_id')").await.unwrap(), json!("shopper-1"));

    // Withdrawal: recorded server-side, the ids forgotten, nothing sent after it.
    page.eval("footprint.consent({analytics: false})").await.unwrap();
    let mut standing = Value::Null;
    for _ in 0..150 {
        standing = body(app.get("/api/tracking/consent/shopper-1", Some(&app.admin_token)).await).await;
        if standing["consent"]["analytics"] == json!(false) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(standing["consent"]["analytics"], json!(false), "{standing}");
    let before = page.eval("window.__sent.length").await.unwrap().as_u64().unwrap() as usize;
    page.eval("footprint.track('after_withdrawal')").await.unwrap();
    assert_eq!(sent_after_the_batch_timer(&page).await, before, "nothing is sent after the withdrawal");
    assert_eq!(page.eval("localStorage.getItem('fp_anonymous_id')").await.unwrap(), Value::Null);
    assert_eq!(app.events_of("shopper-1").await.len(), 5);

    // Do-Not-Track: the same page sends nothing, consent or not.
    let private = browser.new_page().await.unwrap();
    private
        .command(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get() { return '1'; }});"}),
        )
        .await
        .unwrap();
    private.goto(&format!("{shop}/")).await.unwrap();
    loaded(&private).await;
    private
        .eval("localStorage.clear(); footprint.consent({analytics: true}); footprint.track('dnt_event')")
        .await
        .unwrap();
    assert_eq!(sent_after_the_batch_timer(&private).await, 0, "Do-Not-Track: nothing sent");

    // From the page, a key that is not for this origin is refused by CORS and by the server.
    let other = browser_key(&app, &["https://elsewhere.example"]).await;
    let refused = page
        .eval(&format!(
            "fetch('{}/api/collect?key={other}', {{method: 'POST', body: '{{\"batch\": []}}'}}).then(() => 'read', () => 'refused')",
            app.address
        ))
        .await
        .unwrap();
    assert_eq!(refused, json!("refused"));
    assert!(page.problems().iter().all(|problem| !problem.contains("footprint.js")), "{:?}", page.problems());
    browser.close().await.unwrap();
}

async fn collect(app: &TestApp, key: &str, origin: Option<&str>, batch: &Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(&format!("/api/collect?key={key}"))).body(batch.to_string());
    if let Some(origin) = origin {
        request = request.header("Origin", origin);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_publishable_key_only_sends_from_its_origins_and_never_reads() {
    let app = TestApp::spawn_with(|config| {
        config.privacy.consent_default = footprint_analytics::ConsentDefault::Grant;
        config.ingest.browser_requests_per_minute = 3;
    })
    .await;
    let key = browser_key(&app, &["https://shop.example"]).await;
    let batch = json!({"batch": [{"type": "page", "anonymousId": "v1", "properties": {"path": "/"},
        "context": {"ip": "198.51.100.1"}},
        {"type": "identify", "userId": "u1", "anonymousId": "v1", "traits": {"display_name": "Mallory"}},
        {"type": "alias", "previousId": "someone", "userId": "u1"}]});

    let accepted = collect(&app, &key, Some("https://shop.example"), &batch).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(accepted.headers()["access-control-allow-origin"], "https://shop.example");
    let report = body(accepted).await;
    assert_eq!(
        (report["accepted"].as_u64(), report["linked"].as_u64(), report["traits_updated"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "traits and aliases from a page are not taken: {report}"
    );
    let events = app.events_of("u1").await;
    assert_eq!(events.len(), 2);
    assert!(
        events.iter().all(|event| event["context"]["ip"] == "127.0.0.0"),
        "the connection's IP, not the page's claim"
    );

    // Another origin, no origin: refused, and no CORS header to read the answer by.
    let elsewhere = collect(&app, &key, Some("https://evil.example"), &batch).await;
    assert_eq!(elsewhere.status(), StatusCode::FORBIDDEN);
    assert!(elsewhere.headers().get("access-control-allow-origin").is_none());
    assert_eq!(collect(&app, &key, None, &batch).await.status(), StatusCode::FORBIDDEN);
    // A server key is not a publishable key.
    let server_key = app.ingest_key().await;
    assert_eq!(collect(&app, &server_key, Some("https://shop.example"), &batch).await.status(), StatusCode::FORBIDDEN);

    // Preflight: for the key's origin only.
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url(&format!("/api/collect?key={key}")))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight("https://shop.example").await.unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://shop.example");
    assert_eq!(preflight("https://evil.example").await.unwrap().status(), StatusCode::FORBIDDEN);

    // It never reads, nor reaches the server routes.
    for path in ["/api/v1/events", "/api/tracking/consent/u1", "/api/profile/u1"] {
        assert_eq!(app.get(path, Some(&key)).await.status(), StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.track(&key, &json!({"user_id": "u1", "type": "x"})).await.status(), StatusCode::FORBIDDEN);
    let segment =
        app.client.post(app.url("/v1/track")).bearer_auth(&key).json(&json!({"userId": "u1", "event": "x"})).send();
    assert_eq!(segment.await.unwrap().status(), StatusCode::FORBIDDEN);

    // The per-IP budget: 3 a minute here, one spent above (refusals before it spend nothing).
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(collect(&app, &key, Some("https://shop.example"), &batch).await.status());
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let limited = collect(&app, &key, Some("https://shop.example"), &batch).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn the_script_is_served_small_and_gzipped() {
    let app = TestApp::spawn().await;
    let plain = app.client.get(app.url("/footprint.js")).header("Accept-Encoding", "identity").send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert!(plain.headers()["content-type"].to_str().unwrap().starts_with("text/javascript"));
    let text = plain.text().await.unwrap();
    assert_eq!(text, footprint::tracking::sources::browser::SCRIPT);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text.as_bytes()).unwrap();
    let gzipped = encoder.finish().unwrap().len();
    assert!(gzipped <= 3 * 1024, "footprint.js is {gzipped} bytes gzipped; the budget is 3 KB");
    // reqwest here does not inflate: what travels is the gzip the server made once.
    let zipped = app.client.get(app.url("/footprint.js")).header("Accept-Encoding", "gzip").send().await.unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.bytes().await.unwrap().len(), footprint::tracking::sources::browser::SCRIPT_GZIP.len());
}
