//! Seed 003's tier limits: the 101st request of a free account in an hour is refused with 429
//! and the headers that say when to come back; an upgrade lifts the limit; API keys count
//! against the tier they were created with; with Redis, two nodes spend one budget; a Redis
//! outage does not take the API down.

use footprint::app::config::TiersConfig;
use footprint::kernel::clock::{Clock, SystemClock};
use footprint_analytics::Tier;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body, error_code, event};

const REDIS: &str = "redis://127.0.0.1:6379";

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name).and_then(|value| value.to_str().ok()).and_then(|text| text.parse().ok())
}

/// A free account (the default tier) and its token.
async fn free_user(app: &TestApp, username: &str) -> String {
    let created = app
        .post_json("/api/v1/users", Some(&app.admin_token), &json!({"username": username, "password": PASSWORD}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(body(created).await["tier"], "free", "new accounts get the default tier");
    app.login_ok(username, PASSWORD).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_101st_request_of_a_free_account_is_refused_and_an_upgrade_lifts_the_limit() {
    let app = TestApp::spawn_with(|config| config.tiers = TiersConfig::default()).await;
    let token = free_user(&app, "fran").await;
    for n in 1..=100u64 {
        let response = app.get("/api/v1/users/fran", Some(&token)).await;
        assert_eq!(response.status(), StatusCode::OK, "request {n}");
        assert_eq!(header(&response, "ratelimit-limit"), Some(100));
        assert_eq!(header(&response, "ratelimit-remaining"), Some(100 - n), "request {n}");
        assert!(header(&response, "ratelimit-reset").is_some_and(|reset| reset <= 3600));
    }
    let refused = app.get("/api/v1/users/fran", Some(&token)).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!((1..=36).contains(&retry_after), "one more request every 36 s: {retry_after}");
    assert_eq!(header(&refused, "ratelimit-remaining"), Some(0));
    assert_eq!(header(&refused, "ratelimit-limit"), Some(100));
    let message = body(refused).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("free tier allows 100 requests per hour"), "{message}");

    // An ingestion batch is one request too: refused whole, nothing stored.
    let batch = json!({"batch": [event("fran", "click"), event("fran", "view")]});
    let response = app.post_json("/api/track/batch", Some(&token), &batch).await;
    assert_eq!(error_code(response, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMIT_EXCEEDED");

    // The admin (vip) is never limited, and says nothing of limits.
    let response = app.get("/api/v1/users/fran", Some(&app.admin_token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "ratelimit-limit"), None);

    // An upgrade takes effect at once on this node, with the new tier's whole budget.
    let upgrade =
        app.post_json("/api/v1/users/fran/upgrade", Some(&app.admin_token), &json!({"new_tier": "premium"})).await;
    assert_eq!(upgrade.status(), StatusCode::OK);
    let response = app.get("/api/v1/users/fran", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        (header(&response, "ratelimit-limit"), header(&response, "ratelimit-remaining")),
        (Some(5000), Some(4999))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_counts_against_the_tier_it_was_created_with() {
    let app = TestApp::spawn_with(|config| {
        config.tiers = TiersConfig::default();
        config.tiers.free.requests_per_hour = 3;
    })
    .await;
    let (limited, record) =
        footprint::accounts::api_key::generate("limited", vec!["ingest".to_owned()], Tier::Free, SystemClock.now_us());
    app.state.store.insert_api_key(record).await.unwrap();
    app.grant_consent("k-user").await;
    for n in 1..=3 {
        let response = app.track(&limited, &event("k-user", "click")).await;
        assert!(response.status().is_success(), "event {n}: {}", response.status());
    }
    let refused = app.track(&limited, &event("k-user", "click")).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&refused, "retry-after"), Some(1200), "3 an hour: one every 20 minutes");
    // The key made for the tests is vip: unlimited.
    let unlimited = app.ingest_key().await;
    for _ in 0..5 {
        assert!(app.track(&unlimited, &event("k-user", "click")).await.status().is_success());
    }
    assert_eq!(app.events_of("k-user").await.len(), 8, "three through the limited key, five through the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_sharing_redis_spend_one_budget_and_an_upgrade_reaches_both() {
    let prefix = format!("fp-limits-{}:", ulid::Ulid::new());
    let a = TestApp::spawn_postgres_with(|config| {
        config.tiers = TiersConfig::default();
        config.tiers.free.requests_per_hour = 10;
        config.store.redis_url = Some(footprint::app::config::Secret::new(REDIS));
        config.cache.redis_prefix = prefix.clone();
        config.auth.token_check_cache_ms = std::time::Duration::from_millis(200);
    })
    .await;
    let b = a.another_node().await;
    let token = free_user(&a, "nina").await;
    for n in 0..10 {
        let node = if n % 2 == 0 { &a } else { &b };
        assert_eq!(node.get("/api/v1/users/nina", Some(&token)).await.status(), StatusCode::OK, "request {n}");
    }
    for node in [&a, &b] {
        let refused = node.get("/api/v1/users/nina", Some(&token)).await;
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS, "the budget is spent on both nodes");
    }
    let ready = body(b.get("/ready", None).await).await;
    assert_eq!(ready["rate_limits"], "redis");

    let upgrade =
        a.post_json("/api/v1/users/nina/upgrade", Some(&a.admin_token), &json!({"new_tier": "enterprise"})).await;
    assert_eq!(upgrade.status(), StatusCode::OK);
    assert_eq!(
        a.get("/api/v1/users/nina", Some(&token)).await.status(),
        StatusCode::OK,
        "at once on the node that upgraded"
    );
    // The other node reads the account again once its look-up is older than token_check_cache_ms.
    let mut lifted = false;
    for _ in 0..50 {
        if b.get("/api/v1/users/nina", Some(&token)).await.status() == StatusCode::OK {
            lifted = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(lifted, "the upgrade reached the other node within 5 s");
}

/// A Redis of the test's own, on a free port, that the test can stop.
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let own = OwnRedis {
            child: std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server must be installed (.ci/run installs it)"),
            url: format!("redis://127.0.0.1:{port}"),
        };
        let client = redis::Client::open(own.url.as_str()).unwrap();
        for _ in 0..100 {
            if client.get_connection().is_ok() {
                return own;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // Dropping `own` stops the process.
        panic!("redis-server did not start on port {port}");
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_falls_back_to_local_limits_and_says_so() {
    let mut redis = OwnRedis::start();
    let url = redis.url.clone();
    let app = TestApp::spawn_with(|config| {
        config.tiers = TiersConfig::default();
        config.tiers.free.requests_per_hour = 5;
        config.store.redis_url = Some(footprint::app::config::Secret::new(url));
    })
    .await;
    let token = free_user(&app, "olga").await;
    assert_eq!(app.get("/api/v1/users/olga", Some(&token)).await.status(), StatusCode::OK);
    assert_eq!(body(app.get("/ready", None).await).await["rate_limits"], "redis");
    let _ = redis.child.kill();
    let _ = redis.child.wait();
    // The API keeps answering, and still limits, on this node's own counts.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.get("/api/v1/users/olga", Some(&token)).await.status());
    }
    assert!(statuses[..5].iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS, "the local budget is 5 too");
    let ready = app.get("/ready", None).await;
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(body(ready).await["rate_limits"], "local (redis unavailable)");
}

/// The tiers' other quota: events per 30 days. A batch spends its events at once or is refused
/// whole (nothing stored) with when to come back; an API key has its own quota; a batch larger
/// than the whole quota says it never fits; a vip is unlimited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiers_monthly_events_are_spent_by_batches_and_refused_past_the_quota() {
    let app = TestApp::spawn_with(|config| {
        config.tiers.free.events_per_month = 5;
        config.tiers.free.requests_per_hour = 0;
    })
    .await;
    let token = free_user(&app, "quinn").await;
    app.grant_consent("quinn").await;
    let batch = |n: usize| json!({"batch": (0..n).map(|k| event("quinn", if k % 2 == 0 { "click" } else { "view" })).collect::<Vec<_>>()});
    assert_eq!(app.post_json("/api/track/batch", Some(&token), &batch(3)).await.status(), StatusCode::OK);
    let refused = app.post_json("/api/track/batch", Some(&token), &batch(3)).await;
    let retry_after = header(&refused, "retry-after").expect("Retry-After");
    assert!(retry_after > 3600, "one event comes back every 6 days: {retry_after}");
    let message = body(refused).await["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("free tier allows 5 events per 30 days and 2 are left"), "{message}");
    assert_eq!(app.events_of("quinn").await.len(), 3, "the refused batch stored nothing");
    // One at a time, and through seed 002's interactions, the same quota.
    assert_eq!(app.track(&token, &event("quinn", "click")).await.status(), StatusCode::OK);
    let submitted =
        app.post_json("/interactions/submit", Some(&token), &json!({"action": "search", "user_id": "quinn"})).await;
    assert_eq!(submitted.status(), StatusCode::OK);
    let over = app.track(&token, &event("quinn", "click")).await;
    assert_eq!(error_code(over, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMIT_EXCEEDED");
    let never = app.post_json("/api/track/batch", Some(&token), &batch(6)).await;
    assert!(body(never).await["error"]["message"].as_str().unwrap().contains("never fits"));

    // A free API key has a quota of its own; the admin (vip) none.
    let (secret, record) =
        footprint::accounts::api_key::generate("free-key", vec!["ingest".to_owned()], Tier::Free, SystemClock.now_us());
    app.state.store.insert_api_key(record).await.unwrap();
    assert_eq!(app.post_json("/api/track/batch", Some(&secret), &batch(5)).await.status(), StatusCode::OK);
    assert_eq!(
        app.post_json("/api/track/batch", Some(&secret), &batch(1)).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(app.post_json("/api/track/batch", Some(&app.admin_token), &batch(20)).await.status(), StatusCode::OK);
}
