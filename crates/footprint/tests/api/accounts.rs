//! Accounts: login, creation, reading, lockout.

use footprint_analytics::Role;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, body, error_code, event};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_bearer_token_that_opens_protected_routes() {
    let app = TestApp::spawn().await;
    let response = app.login("admin", "admin-password").await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = body(response).await;
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["expires_in"], 3600);
    let me = app.get("/api/v1/users/admin", token["access_token"].as_str()).await;
    assert_eq!(me.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_are_a_401_whatever_is_wrong() {
    let app = TestApp::spawn().await;
    assert_eq!(
        error_code(app.login("admin", "wrong-password").await, StatusCode::UNAUTHORIZED).await,
        "INVALID_CREDENTIALS"
    );
    assert_eq!(
        error_code(app.login("nobody", "whatever-pw").await, StatusCode::UNAUTHORIZED).await,
        "INVALID_CREDENTIALS"
    );
    let missing = app.post_json("/api/v1/auth/login", None, &json!({"password": "x"})).await;
    assert_eq!(error_code(missing, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_accounts_that_log_in_by_username_or_email() {
    let app = TestApp::spawn().await;
    let response = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({
                "username": "jean", "email": "Jean.Dupont@Example.com", "password": PASSWORD, "role": "manager",
                "tier": "premium", "profile_data": {"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris"}
            }),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["location"], "/api/v1/users/jean");
    let created = body(response).await;
    assert_eq!(created["user_id"], "jean");
    assert_eq!(created["email"], "jean.dupont@example.com");
    assert_eq!(created["role"], "manager");
    assert_eq!(created["tier"], "premium");
    assert_eq!(created["profile"]["display_name"], "Jean Dupont");
    assert_eq!(created["has_account"], true);
    let text = created.to_string();
    assert!(!text.contains("argon2") && !text.contains("password"), "never the hash: {text}");

    app.login_ok("jean", PASSWORD).await;
    let by_email = app
        .post_json("/api/v1/auth/login", None, &json!({"email": "JEAN.DUPONT@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(by_email.status(), StatusCode::OK);

    // The e-mail and profile are encrypted at rest.
    let stored = app.state.store.user("jean").await.unwrap().unwrap();
    assert!(!stored.email_enc.unwrap().contains("example"));
    assert!(!stored.profile_enc.unwrap().contains("Dupont"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn taken_names_and_second_accounts_are_conflicts() {
    let app = TestApp::spawn().await;
    let create = async |body: serde_json::Value| app.post_json("/api/v1/users", Some(&app.admin_token), &body).await;
    assert_eq!(
        create(json!({"username": "ana", "email": "ana@example.com", "password": PASSWORD})).await.status(),
        StatusCode::CREATED
    );
    let same_name = create(json!({"user_id": "ana2", "username": "ana", "password": PASSWORD})).await;
    assert_eq!(error_code(same_name, StatusCode::CONFLICT).await, "CONFLICT");
    let same_email = create(json!({"username": "other", "email": "ANA@example.com", "password": PASSWORD})).await;
    assert_eq!(error_code(same_email, StatusCode::CONFLICT).await, "CONFLICT");
    let same_user = create(json!({"user_id": "ana", "username": "ana-bis", "password": PASSWORD})).await;
    assert_eq!(error_code(same_user, StatusCode::CONFLICT).await, "CONFLICT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tracked_user_gains_an_account_and_keeps_their_history() {
    let app = TestApp::spawn().await;
    app.grant_consent("visitor42").await;
    assert_eq!(app.track(&app.admin_token, &event("visitor42", "page_view")).await.status(), StatusCode::OK);
    let before = body(app.get("/api/v1/users/visitor42", Some(&app.admin_token)).await).await;
    assert_eq!((before["has_account"].clone(), before["n_events"].clone()), (json!(false), json!(1)));
    let response = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"user_id": "visitor42", "username": "v42", "password": PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let after = body(response).await;
    assert_eq!((after["has_account"].clone(), after["n_events"].clone()), (json!(true), json!(1)));
    let token = app.login_ok("v42", PASSWORD).await;
    assert_eq!(app.track(&token, &event("visitor42", "click")).await.status(), StatusCode::OK);
    assert_eq!(app.events_of("visitor42").await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_accounts_are_refused_with_the_field_named() {
    let app = TestApp::spawn().await;
    let cases = [
        (json!({"username": "shorty", "password": "short"}), "password"),
        (json!({"username": "has space", "password": PASSWORD}), "username"),
        (json!({"email": "not-an-email", "password": PASSWORD}), "email"),
        (json!({"password": PASSWORD}), "username or email"),
        (json!({"username": "x1", "password": PASSWORD, "role": "root"}), "role"),
        (json!({"username": "x2", "password": PASSWORD, "tier": "gold"}), "tier"),
        (json!({"username": "x3", "password": PASSWORD, "profile": {"timezone": "Paris"}}), "timezone"),
        (json!({"username": "x4", "password": PASSWORD, "unexpected": 1}), "unexpected"),
    ];
    for (request, field) in cases {
        let response = app.post_json("/api/v1/users", Some(&app.admin_token), &request).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{request}");
        let error = body(response).await;
        assert!(error["error"]["message"].as_str().unwrap().contains(field), "{request} → {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_read_themselves_staff_read_anyone() {
    let app = TestApp::spawn().await;
    let alice = app.user_with_role("alice", Role::User).await;
    let manager = app.user_with_role("mgr", Role::Manager).await;
    app.user_with_role("bob", Role::User).await;
    assert_eq!(app.get("/api/v1/users/alice", Some(&alice)).await.status(), StatusCode::OK);
    assert_eq!(error_code(app.get("/api/v1/users/bob", Some(&alice)).await, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert_eq!(app.get("/api/v1/users/bob", Some(&manager)).await.status(), StatusCode::OK);
    assert_eq!(
        error_code(app.get("/api/v1/users/ghost", Some(&manager)).await, StatusCode::NOT_FOUND).await,
        "NOT_FOUND"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_lock_the_login_from_that_network_with_429() {
    let app = TestApp::spawn_with(|config| config.auth.max_failed_logins = 3).await;
    app.user_with_role("carol", Role::User).await;
    for _ in 0..3 {
        assert_eq!(app.login("carol", "wrong-password").await.status(), StatusCode::UNAUTHORIZED);
    }
    let locked = app.login("carol", PASSWORD).await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(locked, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMIT_EXCEEDED");
    let audit = app.state.store.audit_log(20).await.unwrap();
    assert!(audit.iter().any(|entry| entry.action == "login" && entry.outcome == "locked"));
    assert!(audit.iter().all(|entry| !entry.detail.contains(PASSWORD) && !entry.detail.contains("wrong-password")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_share_one_budget() {
    let app = TestApp::spawn_with(|config| config.auth.max_failed_logins = 3).await;
    app.user_with_role("dave", Role::User).await;
    let mut guesses = Vec::new();
    for n in 0..10 {
        let (client, url) = (app.client.clone(), app.url("/api/v1/auth/login"));
        guesses.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"username": "dave", "password": format!("guess-number-{n}")}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut checked = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => checked += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert!(checked <= 3, "{checked} passwords were checked against a budget of 3");
    assert_eq!(
        app.login("dave", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "locked, even for the right password"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_tokens_valid() {
    let app = TestApp::spawn().await;
    let token = app.admin_token.clone();
    let data_dir = app.data_dir.path().to_owned();
    let config = crate::helpers::test_config(&data_dir);
    // A second server on the same data directory, as after a restart.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let restarted = footprint::App::build(config).await.unwrap();
    tokio::spawn(footprint::serve(restarted, listener, std::future::pending()));
    let response = app.client.get(format!("{address}/api/v1/users/admin")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The generated secrets live beside the database, not in it.
    let secrets = std::fs::read_to_string(data_dir.join("secrets.json")).unwrap();
    assert!(secrets.contains("jwt_secret") && secrets.contains("encryption_key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_lost_key_is_refused_at_start() {
    let app = TestApp::spawn().await;
    let data_dir = app.data_dir.path().to_owned();
    let mut config = crate::helpers::test_config(&data_dir);
    config.privacy.encryption_key = Some(footprint::config::Secret::new(footprint::kernel::crypto::random_base64(32)));
    let error = footprint::App::build(config).await.err().expect("a different key must be refused").to_string();
    assert!(error.contains("encryption key"), "{error}");
    std::fs::remove_file(data_dir.join("secrets.json")).unwrap();
    let error =
        footprint::App::build(crate::helpers::test_config(&data_dir)).await.err().expect("lost keys must be refused");
    assert!(error.to_string().contains("does not match"), "{error}");
}

async fn put(app: &TestApp, path: &str, token: &str, body: &serde_json::Value) -> reqwest::Response {
    app.client.put(app.url(path)).bearer_auth(token).json(body).send().await.expect("request")
}

/// Seed 003's `update_user_profile` and `upgrade_user_tier` as routes: the seed's `updates`
/// merged into the profile (its settings field by field, each checked), the session timeout
/// bounding the next token, role and tier by an admin only, a new role ending the old tokens,
/// and the tier history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_change_as_seed_003_shows_and_keep_a_tier_history() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"email": "user@example.com", "password": PASSWORD, "tier": "premium",
                    "profile_data": {"display_name": "Jean Dupont", "language": "fr", "timezone": "Europe/Paris",
                                     "ai_preferences": {"learning_rate": 0.1}}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let id = body(created).await["user_id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{id}");
    let own = app.login_ok("user@example.com", PASSWORD).await;

    // The seed's example, by the user themself.
    let updates = json!({"updates": {"display_name": "Jeanne Dupont",
                                     "ai_preferences": {"personalization_level": "advanced", "mood_detection_enabled": true}}});
    let response = put(&app, &path, &own, &updates).await;
    assert_eq!(response.status(), StatusCode::OK);
    let changed = body(response).await;
    assert_eq!(changed["profile"]["display_name"], "Jeanne Dupont");
    assert_eq!(changed["profile"]["language"], "fr", "fields not named stay");
    assert_eq!(
        changed["profile"]["ai_preferences"],
        json!({"learning_rate": 0.1, "personalization_level": "advanced", "mood_detection_enabled": true}),
        "settings merge field by field"
    );
    let versions = app.get(&format!("/api/profile/{id}/history"), Some(&own)).await;
    assert_eq!(body(versions).await.as_array().map(Vec::len), Some(1), "the change is kept as a version");

    for (bad, field) in [
        (
            json!({"ai_preferences": {"personalization_level": "extreme"}}),
            "profile.ai_preferences.personalization_level",
        ),
        (
            json!({"security_settings": {"mfa_methods": ["email", "carrier-pigeon"]}}),
            "profile.security_settings.mfa_methods",
        ),
        (
            json!({"security_settings": {"session_timeout_minutes": 0}}),
            "profile.security_settings.session_timeout_minutes",
        ),
        (json!({"timezone": "Paris"}), "profile.timezone"),
        (json!({"password": "new-password-1"}), "updates.password"),
        (json!({"tier": "gold"}), "updates.tier"),
    ] {
        let response = put(&app, &path, &app.admin_token, &bad).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let message = body(response).await["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.starts_with(field), "{bad}: {message}");
    }

    // The session timeout bounds the next token.
    let settings = json!({"security_settings": {"require_mfa": false, "session_timeout_minutes": 30, "risk_score_threshold": 0.7}});
    assert_eq!(put(&app, &path, &own, &settings).await.status(), StatusCode::OK);
    let login =
        app.post_json("/api/v1/auth/login", None, &json!({"email": "user@example.com", "password": PASSWORD})).await;
    assert_eq!(body(login).await["expires_in"], 1800);

    // Role and tier: an admin only.
    let response = put(&app, &path, &own, &json!({"tier": "vip"})).await;
    assert_eq!(error_code(response, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    let manager = app.user_with_role("mona", Role::Manager).await;
    assert_eq!(put(&app, &path, &manager, &json!({"display_name": "J. D."})).await.status(), StatusCode::OK);
    let response = put(&app, &path, &manager, &json!({"role": "admin"})).await;
    assert_eq!(error_code(response, StatusCode::FORBIDDEN).await, "FORBIDDEN");
    assert_eq!(app.state.store.user(&id).await.unwrap().unwrap().role, Role::User, "nothing changed");
    // What guards the login is the account's or an admin's: a manager cannot redirect its codes.
    for guarding in [json!({"phone": "+33 6 00 00 00 00"}), json!({"security_settings": {"require_mfa": false}})] {
        let response = put(&app, &path, &manager, &guarding).await;
        assert_eq!(error_code(response, StatusCode::FORBIDDEN).await, "FORBIDDEN", "{guarding}");
    }
    assert_eq!(
        put(&app, &path, &app.admin_token, &json!({"phone": "+33 6 00 00 00 01"})).await.status(),
        StatusCode::OK
    );

    let response = put(&app, &path, &app.admin_token, &json!({"role": "manager"})).await;
    assert_eq!(body(response).await["role"], "manager");
    assert_eq!(app.get(&path, Some(&own)).await.status(), StatusCode::UNAUTHORIZED, "tokens of the old role end");
    let own = app.login_ok("user@example.com", PASSWORD).await;
    assert_eq!(app.get("/api/v1/users/mona", Some(&own)).await.status(), StatusCode::OK, "the new role applies");

    // The seed's upgrade, then the history.
    let response =
        app.post_json(&format!("{path}/upgrade"), Some(&app.admin_token), &json!({"new_tier": "enterprise"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let upgraded = body(response).await;
    assert_eq!((upgraded["tier"].as_str(), upgraded["previous_tier"].as_str()), (Some("enterprise"), Some("premium")));
    assert_eq!(put(&app, &path, &app.admin_token, &json!({"tier": "free"})).await.status(), StatusCode::OK);
    let history = body(app.get(&format!("{path}/tier-history"), Some(&own)).await).await;
    let steps: Vec<(&str, &str)> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["from_tier"].as_str().unwrap(), c["to_tier"].as_str().unwrap()))
        .collect();
    assert_eq!(steps, [("premium", "enterprise"), ("enterprise", "free")]);
    assert!(history.as_array().unwrap().iter().all(|c| c["changed_by"] == "admin"));
    let audit = app.state.store.audit_log(50).await.unwrap();
    assert_eq!(audit.iter().filter(|e| e.action == "user.tier").count(), 2);
    assert!(audit.iter().any(|e| e.action == "user.role" && e.detail.contains("manager")));
    let bad = app.post_json(&format!("{path}/upgrade"), Some(&app.admin_token), &json!({"new_tier": "gold"})).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The last admin cannot be demoted; a tracked-only user has no tier to change.
    let response = put(&app, "/api/v1/users/admin", &app.admin_token, &json!({"role": "user"})).await;
    assert_eq!(error_code(response, StatusCode::CONFLICT).await, "CONFLICT");
    app.grant_consent("tracked-1").await;
    assert!(app.track(&app.admin_token, &event("tracked-1", "click")).await.status().is_success());
    let response =
        app.post_json("/api/v1/users/tracked-1/upgrade", Some(&app.admin_token), &json!({"new_tier": "vip"})).await;
    assert_eq!(error_code(response, StatusCode::CONFLICT).await, "CONFLICT");
    let response = put(&app, "/api/v1/users/nobody", &app.admin_token, &json!({"display_name": "x"})).await;
    assert_eq!(error_code(response, StatusCode::NOT_FOUND).await, "NOT_FOUND");
}
