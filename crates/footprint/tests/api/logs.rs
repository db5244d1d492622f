//! Nothing secret reaches the log: the real binary, at `debug`, through logins (right and
//! wrong), account creation and change, the TOTP enrolment and challenge, an e-mailed code, the
//! instance's own keys, and provisioning from the command line (given passwords, invitations);
//! then its whole stderr (and the command's output) is searched for each secret.

use std::process::{Command, Stdio};

use footprint::accounts::mfa::code_at;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN, ADMIN_PASSWORD, body};

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, payload: &Value) -> Value {
    let mut request = client.post(url).json(payload);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    assert!(status.is_success() || status == StatusCode::UNAUTHORIZED, "{status}: {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_token_code_or_key_is_ever_logged() {
    let data_dir = tempfile::tempdir().unwrap();
    let log_path = data_dir.path().join("stderr.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let server = crate::process::start_binary_logging(
        data_dir.path(),
        &[("RUST_LOG", "debug"), ("FOOTPRINT_CONSENT_DEFAULT", "deny")],
        Stdio::from(log),
    );
    let address = server.address.clone();
    let url = |path: &str| format!("{address}{path}");
    let client = reqwest::Client::new();

    let admin =
        post(&client, url("/api/v1/auth/login"), None, &json!({"username": ADMIN, "password": ADMIN_PASSWORD})).await;
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    let password = "a-long-and-secret-passphrase-42";
    let email = "secret-person@example.com";
    post(
        &client,
        url("/api/v1/users"),
        Some(&admin),
        &json!({"username": "sam", "email": email, "password": password}),
    )
    .await;
    post(&client, url("/api/v1/auth/login"), None, &json!({"username": "sam", "password": "a-wrong-guess-1234"})).await;
    let sam = post(&client, url("/api/v1/auth/login"), None, &json!({"username": "sam", "password": password})).await;
    let sam = sam["access_token"].as_str().unwrap().to_owned();
    let enrolled = post(&client, url("/api/v1/auth/mfa/enroll"), Some(&sam), &json!({})).await;
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let first = code_at(&secret, now).unwrap();
    let activated = post(&client, url("/api/v1/auth/mfa/verify"), Some(&sam), &json!({"code": first})).await;
    let recovery = activated["recovery_codes"][0].as_str().unwrap().to_owned();
    let pending = post(&client, url("/api/v1/auth/login"), None, &json!({"email": email, "password": password})).await;
    let mfa_token = pending["mfa_token"].as_str().unwrap().to_owned();
    let second = code_at(&secret, now + 30).unwrap();
    let done =
        post(&client, url("/api/v1/auth/mfa/challenge"), None, &json!({"mfa_token": mfa_token, "code": second})).await;
    let sam_again = done["access_token"].as_str().unwrap().to_owned();
    // An account whose second step is an e-mailed code.
    post(
        &client,
        url("/api/v1/users"),
        Some(&admin),
        &json!({"username": "eve", "email": "eve@example.com", "password": password,
                "profile_data": {"security_settings": {"require_mfa": true}}}),
    )
    .await;
    let eve = post(&client, url("/api/v1/auth/login"), None, &json!({"username": "eve", "password": password})).await;
    let outbox = client.get(url("/api/v1/admin/outbox")).bearer_auth(&admin).send().await.unwrap();
    let emailed: String =
        body(outbox).await[0]["body"].as_str().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    post(&client, url("/api/v1/auth/mfa/challenge"), None, &json!({"mfa_token": eve["mfa_token"], "code": emailed}))
        .await;

    drop(server);
    // Provisioning from the command line, at debug: a given password and an invitation's.
    let users = data_dir.path().join("users.jsonl");
    std::fs::write(
        &users,
        "{\"username\": \"pia\", \"email\": \"pia-secret@example.com\", \"password\": \"provisioned-secret-pass-77\"}\n\
         {\"username\": \"rob\", \"email\": \"rob-secret@example.com\"}\n",
    )
    .unwrap();
    let provisioned = Command::new(env!("CARGO_BIN_EXE_footprint"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("FOOTPRINT_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "debug")
        .args(["automation", "provision-users", "--file", users.to_str().unwrap()])
        .output()
        .expect("run footprint automation");
    assert!(provisioned.status.success(), "{}", String::from_utf8_lossy(&provisioned.stderr));
    let printed = String::from_utf8_lossy(&provisioned.stdout).into_owned();
    assert!(printed.contains("2 created") && printed.contains("1 invitations"), "{printed}");
    let logged = std::fs::read_to_string(&log_path).unwrap() + &printed + &String::from_utf8_lossy(&provisioned.stderr);
    assert!(
        logged.contains("DEBUG") || logged.contains("INFO"),
        "the log was written at debug: {} bytes",
        logged.len()
    );
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(data_dir.path().join("secrets.json")).unwrap()).unwrap();
    let mut secrets: Vec<(String, String)> = vec![
        ("the admin's password".into(), ADMIN_PASSWORD.into()),
        ("a password".into(), password.into()),
        ("a wrong password".into(), "a-wrong-guess-1234".into()),
        ("an access token".into(), admin.clone()),
        ("an access token".into(), sam.clone()),
        ("an access token".into(), sam_again.clone()),
        ("a TOTP secret".into(), secret.clone()),
        ("a recovery code".into(), recovery.clone()),
        ("a challenge".into(), mfa_token.clone()),
        ("an e-mail".into(), email.into()),
        ("an e-mailed code".into(), format!("code is {emailed}")),
        ("a provisioned password".into(), "provisioned-secret-pass-77".into()),
        ("an invitation's password".into(), "temporary password".into()),
        ("a provisioned e-mail".into(), "pia-secret@example.com".into()),
        ("a provisioned e-mail".into(), "rob-secret@example.com".into()),
    ];
    for (name, value) in keys.as_object().unwrap() {
        if let Some(text) = value.as_str() {
            secrets.push((format!("the instance key {name}"), text.to_owned()));
        }
    }
    for (what, value) in &secrets {
        assert!(!logged.contains(value.as_str()), "{what} was logged");
    }
    // The TOTP codes are six digits: searched as JSON values and after `code`, where a log would show them.
    for code in [&first, &second, &emailed] {
        assert!(
            !logged.contains(&format!("\"{code}\"")) && !logged.contains(&format!("code={code}")),
            "a code was logged"
        );
    }
}
