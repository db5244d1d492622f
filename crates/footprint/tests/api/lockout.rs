//! Login lockout per login and source network: a login that names no account is answered like
//! one that does (the same statuses, codes and messages, locks included); a lock holds back the
//! network that failed and no other, admins included; `X-Forwarded-For` counts only from a
//! trusted proxy; each further lock lasts longer, up to `auth.max_lockout_secs`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use footprint::kernel::clock::{Clock, OffsetClock, SystemClock};
use footprint_analytics::Role;
use reqwest::{Response, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, body};

const LOGIN_ROUTES: [&str; 3] = ["/api/v1/auth/login", "/login", "/api/profile/auth"];

/// A client whose connections come from `address` (any 127.x.y.z reaches the server; 127.0.1.x
/// is another /24 than the tests' usual 127.0.0.1).
fn client_from(address: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(address.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn login_with(
    app: &TestApp,
    client: &reqwest::Client,
    route: &str,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> Response {
    let mut request = client.post(app.url(route)).json(&json!({"username": username, "password": password}));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request.send().await.unwrap()
}

/// What a client can see of an answer: status, error code, message (its numbers left out: a
/// wait in seconds), and whether it says when to retry.
async fn seen(response: Response) -> (StatusCode, String, String, bool) {
    let status = response.status();
    let retry = response.headers().contains_key("retry-after");
    let answer = body(response).await;
    let message: String =
        answer["error"]["message"].as_str().unwrap_or_default().replace(|c: char| c.is_ascii_digit(), "#");
    (status, answer["error"]["code"].as_str().unwrap_or_default().to_owned(), message, retry)
}

fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_login_is_answered_like_a_known_one() {
    let app = TestApp::spawn_with(|config| config.auth.max_failed_logins = 3).await;
    for (n, route) in LOGIN_ROUTES.into_iter().enumerate() {
        let (known, unknown) = (format!("carol-{n}"), format!("nobody-{n}"));
        app.user_with_role(&known, Role::User).await;
        for attempt in 0..5 {
            let from_known = seen(login_with(&app, &app.client, route, &known, "wrong-password", None).await).await;
            let from_unknown = seen(login_with(&app, &app.client, route, &unknown, "wrong-password", None).await).await;
            assert_eq!(from_known, from_unknown, "{route}, attempt {attempt}");
            let expected = if attempt < 3 { "INVALID_CREDENTIALS" } else { "RATE_LIMIT_EXCEEDED" };
            assert_eq!(from_known.1, expected, "{route}, attempt {attempt}: {from_known:?}");
            assert_eq!(from_known.3, attempt >= 3, "a lock says when to retry");
        }
        let right = seen(login_with(&app, &app.client, route, &known, PASSWORD, None).await).await;
        assert_eq!(right.0, StatusCode::TOO_MANY_REQUESTS, "{route}: locked, even for the right password");
    }
    let audit = app.state.store.audit_log(100).await.unwrap();
    assert!(audit.iter().any(|entry| entry.outcome == "locked" && entry.subject.is_none()), "unknown logins lock");
    assert!(audit.iter().all(|entry| !entry.detail.contains("nobody-") && !entry.detail.contains("wrong-password")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holds_back_the_network_that_failed_and_no_other() {
    let app = TestApp::spawn_with(|config| config.auth.max_failed_logins = 3).await;
    app.user_with_role("carol", Role::User).await;
    let stranger = client_from("127.0.1.10");
    let neighbour = client_from("127.0.1.77");
    for username in ["carol", ADMIN] {
        for _ in 0..3 {
            let guess = login_with(&app, &stranger, LOGIN_ROUTES[0], username, "wrong-password", None).await;
            assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
        }
        let password = if username == ADMIN { ADMIN_PASSWORD } else { PASSWORD };
        for (who, client) in [("the stranger", &stranger), ("the same /24", &neighbour)] {
            let locked = login_with(&app, client, LOGIN_ROUTES[0], username, password, None).await;
            assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS, "{who} is locked out of {username}");
        }
        // The owner's usual network is not.
        let owner = login_with(&app, &app.client, LOGIN_ROUTES[0], username, password, None).await;
        assert_eq!(owner.status(), StatusCode::OK, "{username} still logs in from their network");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_addresses_count_only_from_a_trusted_proxy() {
    // Without a trusted proxy, the header is the client's word: ignored.
    let app = TestApp::spawn_with(|config| config.auth.max_failed_logins = 3).await;
    app.user_with_role("carol", Role::User).await;
    for n in 0..3 {
        let forwarded = format!("198.51.{n}.7");
        let guess = login_with(&app, &app.client, LOGIN_ROUTES[0], "carol", "wrong", Some(&forwarded)).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    let other = login_with(&app, &app.client, LOGIN_ROUTES[0], "carol", PASSWORD, Some("203.0.113.5")).await;
    assert_eq!(other.status(), StatusCode::TOO_MANY_REQUESTS, "every guess came from the peer's network");

    // Behind a trusted proxy, the address it forwards is the client's.
    let proxied = TestApp::spawn_with(|config| {
        config.auth.max_failed_logins = 3;
        config.server.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    proxied.user_with_role("carol", Role::User).await;
    for _ in 0..3 {
        let guess =
            login_with(&proxied, &proxied.client, LOGIN_ROUTES[0], "carol", "wrong", Some("198.51.100.7")).await;
        assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
    }
    let same = login_with(&proxied, &proxied.client, LOGIN_ROUTES[0], "carol", PASSWORD, Some("198.51.100.9")).await;
    assert_eq!(same.status(), StatusCode::TOO_MANY_REQUESTS, "the guesser's /24");
    let owner = login_with(&proxied, &proxied.client, LOGIN_ROUTES[0], "carol", PASSWORD, Some("203.0.113.5")).await;
    assert_eq!(owner.status(), StatusCode::OK, "another network behind the same proxy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_further_lock_lasts_longer_up_to_the_maximum() {
    let clock = Arc::new(OffsetClock::starting_at(SystemClock.now_us()));
    let app = TestApp::spawn_with_clock_and(clock.clone(), |config| {
        config.auth.max_failed_logins = 2;
        config.auth.lockout_secs = Duration::from_secs(60);
        config.auth.max_lockout_secs = Duration::from_secs(150);
    })
    .await;
    app.user_with_role("carol", Role::User).await;
    // Fails until locked; the wait the lock announces.
    let lock = || async {
        for _ in 0..2 {
            let guess = login_with(&app, &app.client, LOGIN_ROUTES[0], "carol", "wrong", None).await;
            assert_eq!(guess.status(), StatusCode::UNAUTHORIZED);
        }
        let locked = login_with(&app, &app.client, LOGIN_ROUTES[0], "carol", PASSWORD, None).await;
        assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
        retry_after(&locked)
    };
    let mut waits = Vec::new();
    for _ in 0..4 {
        let wait = lock().await;
        waits.push(wait);
        clock.advance(Duration::from_secs(wait + 1));
    }
    assert!((1..=61).contains(&waits[0]), "{waits:?}");
    assert!((62..=121).contains(&waits[1]), "twice as long: {waits:?}");
    assert!((122..=151).contains(&waits[2]) && (122..=151).contains(&waits[3]), "at most 150 s: {waits:?}");
    // A success starts the login over.
    let success = login_with(&app, &app.client, LOGIN_ROUTES[0], "carol", PASSWORD, None).await;
    assert_eq!(success.status(), StatusCode::OK);
    assert!((1..=61).contains(&lock().await));
}
