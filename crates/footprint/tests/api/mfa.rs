//! The TOTP second factor end to end: enrolment, activation with recovery codes, the login
//! challenge, a code accepted once, recovery codes used once, wrong codes locking the login, and
//! removal.

use footprint::accounts::mfa::code_at;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, body, error_code};

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

async fn login(app: &TestApp, username: &str) -> Value {
    let response = app.login(username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

async fn challenge(app: &TestApp, mfa_token: &str, field: &str, code: &str) -> reqwest::Response {
    app.post_json("/api/v1/auth/mfa/challenge", None, &json!({"mfa_token": mfa_token, field: code})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_factor_guards_the_login_and_each_code_works_once() {
    let app = TestApp::spawn().await;
    let token = app.user_with_role("tina", footprint_analytics::Role::User).await;

    let enrolled = app.post_json("/api/v1/auth/mfa/enroll", Some(&token), &json!({})).await;
    assert_eq!(enrolled.status(), StatusCode::OK);
    let enrolled = body(enrolled).await;
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let uri = enrolled["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Footprint:tina?") && uri.contains(&format!("secret={secret}")), "{uri}");
    // SHA-1, 6 digits and 30 s are the Key URI format's defaults: left out.
    assert!(uri.contains("issuer=Footprint") && !uri.contains("algorithm=SHA256"), "{uri}");
    assert_eq!(login(&app, "tina").await["token_type"], "bearer", "not active before a code is verified");

    let wrong = app.post_json("/api/v1/auth/mfa/verify", Some(&token), &json!({"code": "000000"})).await;
    assert_eq!(error_code(wrong, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let now = now_secs();
    let first = code_at(&secret, now).unwrap();
    let activated = app.post_json("/api/v1/auth/mfa/verify", Some(&token), &json!({"code": first})).await;
    assert_eq!(activated.status(), StatusCode::OK);
    let recovery: Vec<String> = body(activated).await["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);
    let again = app.post_json("/api/v1/auth/mfa/enroll", Some(&token), &json!({})).await;
    assert_eq!(error_code(again, StatusCode::CONFLICT).await, "CONFLICT", "one active factor at a time");

    // A login now answers a challenge, not a token.
    let pending = login(&app, "tina").await;
    assert_eq!(pending["mfa_required"], true);
    assert!(pending.get("access_token").is_none(), "{pending}");
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_owned();
    let replayed = challenge(&app, &mfa_token, "code", &first).await;
    assert_eq!(error_code(replayed, StatusCode::UNAUTHORIZED).await, "INVALID_CREDENTIALS", "the code's step is used");
    // The next step's code (within the one step of skew).
    let next = code_at(&secret, now + 30).unwrap();
    let done = challenge(&app, &mfa_token, "code", &next).await;
    assert_eq!(done.status(), StatusCode::OK);
    let access = body(done).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/users/tina", Some(&access)).await.status(), StatusCode::OK);
    let again = challenge(&app, &mfa_token, "code", &next).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "a code is accepted once");

    // A recovery code, once, written any way.
    let pending = login(&app, "tina").await;
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_owned();
    let spoken = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(challenge(&app, &mfa_token, "recovery_code", &spoken).await.status(), StatusCode::OK);
    let reused = challenge(&app, &mfa_token, "recovery_code", &recovery[0]).await;
    assert_eq!(reused.status(), StatusCode::UNAUTHORIZED, "a recovery code works once");

    // A forged or altered challenge.
    let forged = challenge(&app, "dGluYQoxCjE.0123456789abcdef0123456789abcdef", "code", &next).await;
    assert_eq!(error_code(forged, StatusCode::UNAUTHORIZED).await, "INVALID_TOKEN");
    let mut altered = mfa_token.clone();
    altered.replace_range(0..1, if altered.starts_with('a') { "b" } else { "a" });
    assert_eq!(
        error_code(challenge(&app, &altered, "code", &next).await, StatusCode::UNAUTHORIZED).await,
        "INVALID_TOKEN"
    );

    // Removal needs a code (a recovery code here); then the login gives a token again.
    let refused = app
        .client
        .delete(app.url("/api/v1/auth/mfa"))
        .bearer_auth(&access)
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused, StatusCode::UNPROCESSABLE_ENTITY).await, "VALIDATION_ERROR");
    let removed = app
        .client
        .delete(app.url("/api/v1/auth/mfa"))
        .bearer_auth(&access)
        .json(&json!({"code": recovery[1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(login(&app, "tina").await["token_type"], "bearer");

    // No code, secret or recovery code in the audit log.
    let audit = app.state.store.audit_log(100).await.unwrap();
    assert!(audit.iter().any(|entry| entry.action == "login.mfa" && entry.outcome == "success"));
    for entry in &audit {
        for secret_text in [secret.as_str(), first.as_str(), next.as_str(), recovery[0].as_str()] {
            assert!(!entry.detail.contains(secret_text), "{entry:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_lock_the_login_like_wrong_passwords() {
    let app = TestApp::spawn().await;
    let token = app.user_with_role("luc", footprint_analytics::Role::User).await;
    let secret = body(app.post_json("/api/v1/auth/mfa/enroll", Some(&token), &json!({})).await).await["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_at(&secret, now_secs()).unwrap();
    assert_eq!(
        app.post_json("/api/v1/auth/mfa/verify", Some(&token), &json!({"code": code})).await.status(),
        StatusCode::OK
    );
    let mfa_token = login(&app, "luc").await["mfa_token"].as_str().unwrap().to_owned();
    // The login counted once; four wrong codes make five failures in a row: locked.
    for n in 1..=4 {
        let wrong = challenge(&app, &mfa_token, "code", "000000").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "wrong code {n}");
    }
    let locked = challenge(&app, &mfa_token, "code", &code_at(&secret, now_secs() + 30).unwrap()).await;
    assert_eq!(error_code(locked, StatusCode::TOO_MANY_REQUESTS).await, "RATE_LIMIT_EXCEEDED", "even the right code");
    let relogin = app.login("luc", PASSWORD).await;
    assert_eq!(relogin.status(), StatusCode::TOO_MANY_REQUESTS, "and the password login too");
}

/// `security_settings.require_mfa` without an authenticator: the login's second step is a code
/// e-mailed through the outbox, used once, within its time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_mfa_sends_a_one_time_code_through_the_outbox() {
    let app = TestApp::spawn().await;
    let created = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"username": "ema", "email": "ema@example.com", "password": PASSWORD,
                    "profile_data": {"security_settings": {"require_mfa": true, "mfa_methods": ["email"]}}}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let pending = login(&app, "ema").await;
    assert_eq!((pending["mfa_required"].as_bool(), pending["methods"].clone()), (Some(true), json!(["email"])));
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_owned();

    let outbox = app.get("/api/v1/admin/outbox", Some(&app.admin_token)).await;
    assert_eq!(outbox.status(), StatusCode::OK);
    let messages = body(outbox).await;
    let message = &messages[0];
    assert_eq!((message["user_id"].as_str(), message["channel"].as_str()), (Some("ema"), Some("email")));
    assert_eq!(message["recipient"], "ema@example.com");
    let text = message["body"].as_str().unwrap();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{text}");
    let stored = app.state.store.outbox(1).await.unwrap();
    assert!(!stored[0].body_enc.contains(&code) && !stored[0].recipient_enc.contains("example"), "encrypted at rest");

    let wrong = challenge(&app, &mfa_token, "code", if code == "000000" { "111111" } else { "000000" }).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let done = challenge(&app, &mfa_token, "code", &code).await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(body(done).await["access_token"].is_string());
    let again = challenge(&app, &mfa_token, "code", &code).await;
    assert_eq!(again.status(), StatusCode::UNAUTHORIZED, "an e-mailed code works once");
    let recovery = challenge(&app, &mfa_token, "recovery_code", "abcde-fghij").await;
    assert_eq!(recovery.status(), StatusCode::UNPROCESSABLE_ENTITY, "no recovery codes without an authenticator");

    // A required second factor with nowhere to send a code: refused with what to do.
    let no_email = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"username": "noe", "password": PASSWORD, "profile_data": {"security_settings": {"require_mfa": true}}}),
        )
        .await;
    assert_eq!(no_email.status(), StatusCode::CREATED);
    let refused = app.login("noe", PASSWORD).await;
    assert_eq!(error_code(refused, StatusCode::FORBIDDEN).await, "FORBIDDEN");
}

/// `mfa_methods: ["sms"]` with a phone in the declared profile: the code goes by text message
/// (the `sms` channel of the outbox), even when the account also has an e-mail; a profile
/// without a usable phone falls back to the e-mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sms_is_a_second_step_when_the_profile_has_a_phone() {
    let app = TestApp::spawn().await;
    let create = |username: &str, phone: &str| {
        json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD,
               "profile_data": {"phone": phone, "security_settings": {"require_mfa": true, "mfa_methods": ["sms", "email"]}}})
    };
    for (username, phone) in [("sam", "+33 6 12 34 56 78"), ("pat", "call me")] {
        let created = app.post_json("/api/v1/users", Some(&app.admin_token), &create(username, phone)).await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let pending = login(&app, "sam").await;
    assert_eq!(pending["methods"], json!(["sms"]));
    let messages = body(app.get("/api/v1/admin/outbox", Some(&app.admin_token)).await).await;
    let text = &messages[0];
    assert_eq!((text["channel"].as_str(), text["recipient"].as_str()), (Some("sms"), Some("+33 6 12 34 56 78")));
    let code: String = text["body"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    let done = challenge(&app, pending["mfa_token"].as_str().unwrap(), "code", &code).await;
    assert_eq!(done.status(), StatusCode::OK);

    let fallback = login(&app, "pat").await;
    assert_eq!(fallback["methods"], json!(["email"]), "not a phone number: the e-mail");
}
