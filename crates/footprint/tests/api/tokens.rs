//! Access tokens end with their account: once an account is erased, its tokens are refused
//! everywhere (401 `INVALID_TOKEN`, `/check-token` says not valid), on every node, and an
//! account created again under the same id does not bring them back.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code};

const LEAVER: &str = "leaver-5353";

async fn create_leaver(app: &TestApp) {
    let created = app
        .post_json("/api/v1/users", Some(&app.admin_token), &json!({"username": LEAVER, "password": PASSWORD}))
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
}

async fn check_token(app: &TestApp, token: &str) -> Value {
    body(app.post_json("/check-token", None, &json!({"access_token": token})).await).await
}

async fn erase(app: &TestApp, user_id: &str) {
    let response =
        app.client.delete(app.url(&format!("/api/v1/users/{user_id}"))).bearer_auth(&app.admin_token).send().await;
    assert_eq!(response.unwrap().status(), StatusCode::OK);
}

/// What the token of the erased account may still do: nothing.
async fn assert_refused_everywhere(app: &TestApp, token: &str) {
    let consent =
        app.post_query("/api/tracking/consent", Some(token), &[("user_id", LEAVER), ("analytics", "true")]).await;
    assert_eq!(error_code(consent, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN", "consent");
    let tracked = app.track(token, &json!({"user_id": LEAVER, "type": "click"})).await;
    assert_eq!(error_code(tracked, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN", "tracking");
    let profile = app
        .client
        .put(app.url(&format!("/api/profile/{LEAVER}")))
        .bearer_auth(token)
        .json(&json!({"profile": {"display_name": "Still here"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(profile, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN", "profile");
    let submitted = app.post_json("/interactions/submit", Some(token), &json!({"action": "click"})).await;
    assert_eq!(error_code(submitted, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN", "interactions");
    assert_eq!(check_token(app, token).await, json!({"valid": false, "username": null}));
}

async fn erased_tokens_are_refused(postgres: bool) {
    let app = if postgres { TestApp::spawn_postgres_with(|_| {}).await } else { TestApp::spawn().await };
    create_leaver(&app).await;
    let token = app.login_ok(LEAVER, PASSWORD).await;
    app.grant_consent(LEAVER).await;
    let tracked = body(app.track(&token, &json!({"user_id": LEAVER, "type": "click"})).await).await;
    assert_eq!(tracked["status"], "accepted", "{tracked}");
    assert_eq!(check_token(&app, &token).await, json!({"valid": true, "username": LEAVER}));

    erase(&app, LEAVER).await;
    assert_refused_everywhere(&app, &token).await;
    assert!(app.state.store.user(LEAVER).await.unwrap().is_none(), "nothing was written for the erased id");
    assert!(app.state.store.consent_history(LEAVER).await.unwrap().is_empty());

    // The same id gets an account again: the old token stays refused, a new one works.
    create_leaver(&app).await;
    assert_eq!(check_token(&app, &token).await["valid"], false);
    let fresh = app.login_ok(LEAVER, PASSWORD).await;
    assert_eq!(check_token(&app, &fresh).await, json!({"valid": true, "username": LEAVER}));
    assert_eq!(app.get(&format!("/api/v1/users/{LEAVER}"), Some(&fresh)).await.status(), StatusCode::OK);
    let old = app.get(&format!("/api/v1/users/{LEAVER}"), Some(&token)).await;
    assert_eq!(error_code(old, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_accounts_token_is_refused_on_sqlite() {
    erased_tokens_are_refused(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_accounts_token_is_refused_on_postgres() {
    erased_tokens_are_refused(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymised_accounts_token_is_refused() {
    let app = TestApp::spawn().await;
    create_leaver(&app).await;
    let token = app.login_ok(LEAVER, PASSWORD).await;
    let anonymised =
        app.post_json(&format!("/api/v1/users/{LEAVER}/anonymize"), Some(&app.admin_token), &json!({})).await;
    assert_eq!(anonymised.status(), StatusCode::OK);
    assert_refused_everywhere(&app, &token).await;
}

/// Two nodes on one PostgreSQL: the node that did not erase the account, and had just accepted
/// its token, refuses it too once its short look-up cache has passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_refuses_an_erased_accounts_token() {
    let first =
        TestApp::spawn_postgres_with(|config| config.auth.token_check_cache_ms = Duration::from_millis(200)).await;
    let second = first.another_node().await;
    create_leaver(&first).await;
    let token = first.login_ok(LEAVER, PASSWORD).await;
    assert_eq!(check_token(&second, &token).await["valid"], true, "the other node accepts it");
    erase(&first, LEAVER).await;
    assert_eq!(check_token(&first, &token).await["valid"], false, "refused at once where it was erased");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if check_token(&second, &token).await["valid"] == false {
            break;
        }
        assert!(Instant::now() < deadline, "the other node still accepts the erased account's token");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_refused_everywhere(&second, &token).await;
}

/// Revoking an account's tokens (log out everywhere) ends every token issued before, whoever
/// asked (the user or an admin); a new login works; another user may not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_tokens_are_refused_and_a_new_login_works() {
    let app = TestApp::spawn().await;
    create_leaver(&app).await;
    app.grant_consent(LEAVER).await;
    let (phone, laptop) = (app.login_ok(LEAVER, PASSWORD).await, app.login_ok(LEAVER, PASSWORD).await);
    let revoke = |token: String, user_id: &str| {
        let request = app.client.post(app.url(&format!("/api/v1/users/{user_id}/revoke-tokens"))).bearer_auth(token);
        async move { request.send().await.unwrap() }
    };
    let other = app.user_with_role("someone-else", footprint_analytics::Role::Manager).await;
    assert_eq!(error_code(revoke(other, LEAVER).await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert_eq!(revoke(phone.clone(), LEAVER).await.status(), StatusCode::NO_CONTENT);
    assert_refused_everywhere(&app, &phone).await;
    assert_refused_everywhere(&app, &laptop).await;

    let fresh = app.login_ok(LEAVER, PASSWORD).await;
    assert_eq!(check_token(&app, &fresh).await, json!({"valid": true, "username": LEAVER}));
    assert_eq!(revoke(app.admin_token.clone(), LEAVER).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(check_token(&app, &fresh).await["valid"], false, "an admin revokes them too");
    let unknown = revoke(app.admin_token.clone(), "nobody-here").await;
    assert_eq!(error_code(unknown, StatusCode::NOT_FOUND).await, "NOT_FOUND");
    assert_eq!(
        app.get("/api/v1/users/admin", Some(&app.admin_token)).await.status(),
        StatusCode::OK,
        "the admin's own still work"
    );
}
