//! Risk-based login (seed 003): a usual login goes through; one from a new device and network
//! at an unusual hour after failures must pass a second step (an e-mailed code here); the score
//! and its reasons are in the audit log and the account's security page.

use std::sync::Arc;

use footprint::kernel::clock::{Clock, OffsetClock};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp, body};

const HOUR_US: i64 = 3_600_000_000;
const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

async fn login(app: &TestApp, ip: &str, device: &str) -> Value {
    let response = app
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({"email": "rita@example.com", "password": PASSWORD,
                    "context": {"ip_address": ip, "user_agent": "Mozilla/5.0...", "device_id": device}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    body(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strange_login_after_failures_needs_a_second_step_and_a_usual_one_does_not() {
    // Day 0 at 09:00 UTC.
    let start = 1_780_000_000_000_000 - 1_780_000_000_000_000 % (24 * HOUR_US) + 9 * HOUR_US;
    let clock = Arc::new(OffsetClock::starting_at(start));
    let app = TestApp::spawn_with_clock_and(clock.clone(), |_| {}).await;
    let created = app
        .post_json(
            "/api/v1/users",
            Some(&app.admin_token),
            &json!({"username": "rita", "email": "rita@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // Six usual logins, a day apart, at 09:00 from one device and network.
    for day in 0..6 {
        if day > 0 {
            clock.advance(24 * HOUR);
        }
        let token = login(&app, "192.168.1.1", "device_123").await;
        assert_eq!(token["token_type"], "bearer", "day {day}");
    }
    let usual = login(&app, "192.168.1.77", "device_123").await;
    assert_eq!(usual["token_type"], "bearer", "the same device and /24 at the usual hour");

    // 03:00, a new device on a new network, after two wrong passwords.
    clock.advance(18 * HOUR);
    for _ in 0..2 {
        let wrong = app
            .post_json(
                "/api/v1/auth/login",
                None,
                &json!({"email": "rita@example.com", "password": "not-the-password"}),
            )
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let strange = login(&app, "203.0.113.9", "device_999").await;
    assert_eq!(strange["mfa_required"], true, "{strange}");
    assert_eq!(strange["methods"], json!(["email"]), "no authenticator: a code by e-mail");
    let audit = app.state.store.audit_log(100).await.unwrap();
    let entry = audit.iter().find(|e| e.action == "login" && e.outcome == "mfa_required").expect("audited");
    let detail: Value = serde_json::from_str(&entry.detail).unwrap();
    assert!(detail["risk_score"].as_f64().unwrap() > 0.7, "{detail}");
    assert_eq!(detail["reasons"].as_array().unwrap().len(), 3 + 1, "device, network, hour, failures: {detail}");

    // The code from the outbox completes the login; the device is known from then on.
    // The admin's first token has expired on the server's clock meanwhile.
    let admin = app.login_ok(ADMIN, ADMIN_PASSWORD).await;
    let messages = body(app.get("/api/v1/admin/outbox", Some(&admin)).await).await;
    let code: String = messages[0]["body"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    let done = app
        .post_json("/api/v1/auth/mfa/challenge", None, &json!({"mfa_token": strange["mfa_token"], "code": code}))
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let token = body(done).await["access_token"].as_str().unwrap().to_owned();
    let again = login(&app, "203.0.113.9", "device_999").await;
    assert_eq!(again["token_type"], "bearer", "the device and network that passed are known now");

    let security = body(app.get("/api/v1/users/rita/security", Some(&token)).await).await;
    assert_eq!(security["risk_score_threshold"], 0.7);
    let logins = security["recent_logins"].as_array().unwrap();
    assert_eq!(logins.len(), 10, "7 usual, the challenged one, its passing, and the last");
    assert_eq!(logins[2]["outcome"], "challenged");
    assert!(logins[2]["score"].as_f64().unwrap() > 0.7);
    assert_eq!(logins[1]["outcome"], "mfa_passed");
    assert_eq!(security["known_devices"].as_array().unwrap().len(), 2);
    let first = logins.last().unwrap();
    assert_eq!(first["score"], 0.0, "the first login is not punished for being first");

    // Anomaly detection off: the strange login goes through.
    let off = app
        .client
        .put(app.url("/api/v1/users/rita"))
        .bearer_auth(&token)
        .json(&json!({"security_settings": {"anomaly_detection_enabled": false}}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::OK);
    let through = login(&app, "198.51.100.4", "device_000").await;
    assert_eq!(through["token_type"], "bearer");
    assert!(clock.now_us() > start);
}
