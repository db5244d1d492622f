//! The web dashboard over HTTP: the login and its cookie, CSRF on every form, who may open
//! which page, and the API refusing the dashboard's cookie.

use base64::Engine;
use footprint_analytics::Role;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::json;

use crate::helpers::{ADMIN, ADMIN_PASSWORD, PASSWORD, TestApp};

/// A client that does not follow redirects and keeps no cookies: each test says what it sends.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

fn set_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find(|v| v.starts_with(&format!("{name}=")))
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap().split_once('=').unwrap().1
}

/// The value of the first hidden `csrf` field of a page.
fn csrf_of(html: &str) -> String {
    let at = html.find(r#"name="csrf" value=""#).expect("a csrf field") + r#"name="csrf" value=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

/// The user id inside an access token.
fn subject(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// Logs in through the form; returns the session cookie's value.
async fn log_in(app: &TestApp, username: &str, password: &str) -> String {
    let client = browser();
    let form = client.get(app.url("/ui/login")).send().await.unwrap();
    let nonce = cookie_value(set_cookie(form.headers(), "fp_login").expect("a login nonce")).to_owned();
    let csrf = csrf_of(&form.text().await.unwrap());
    let response = client
        .post(app.url("/ui/login"))
        .header("cookie", format!("fp_login={nonce}"))
        .form(&[("csrf", csrf.as_str()), ("username", username), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "login of {username}");
    cookie_value(set_cookie(response.headers(), "fp_session").expect("a session cookie")).to_owned()
}

async fn get(app: &TestApp, path: &str, session: Option<&str>) -> reqwest::Response {
    let mut request = browser().get(app.url(path));
    if let Some(session) = session {
        request = request.header("cookie", format!("fp_session={session}"));
    }
    request.send().await.unwrap()
}

async fn page(app: &TestApp, path: &str, session: &str) -> String {
    let response = get(app, path, Some(session)).await;
    assert_eq!(response.status(), StatusCode::OK, "GET {path}");
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    response.text().await.unwrap()
}

async fn post_form(app: &TestApp, path: &str, session: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    browser().post(app.url(path)).header("cookie", format!("fp_session={session}")).form(fields).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_logs_in_with_a_strict_http_only_cookie_that_only_it_accepts() {
    let app = TestApp::spawn().await;
    let client = browser();

    // No session: to the login page, and back after it.
    let response = get(&app, "/ui/users?q=a", None).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/ui/login?next=%2Fui%2Fusers%3Fq%3Da");
    let root = get(&app, "/", None).await;
    assert_eq!(root.headers()[LOCATION], "/ui/login?next=%2F", "GET / is the dashboard, not JSON");

    let form = client.get(app.url("/ui/login")).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::OK);
    let csp = form.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let nonce = cookie_value(set_cookie(form.headers(), "fp_login").unwrap()).to_owned();
    let csrf = csrf_of(&form.text().await.unwrap());
    let send = |fields: Vec<(&'static str, String)>, nonce: Option<String>| {
        let mut request = client.post(app.url("/ui/login")).form(&fields);
        if let Some(nonce) = nonce {
            request = request.header("cookie", format!("fp_login={nonce}"));
        }
        request.send()
    };
    let fields = |csrf: &str, password: &str| {
        vec![
            ("csrf", csrf.to_owned()),
            ("username", ADMIN.to_owned()),
            ("password", password.to_owned()),
            ("next", "/ui/users".to_owned()),
        ]
    };

    let wrong = send(fields(&csrf, "not-the-password"), Some(nonce.clone())).await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(wrong.headers(), "fp_session").is_none());
    assert!(wrong.text().await.unwrap().contains("Wrong username or password"));
    for (csrf, nonce) in
        [(String::new(), Some(nonce.clone())), (csrf.clone(), None), ("forged".to_owned(), Some(nonce.clone()))]
    {
        let refused = send(fields(&csrf, ADMIN_PASSWORD), nonce).await.unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "a login form without its CSRF token");
        assert!(set_cookie(refused.headers(), "fp_session").is_none());
    }
    let off_site = client
        .post(app.url("/ui/login"))
        .header("cookie", format!("fp_login={nonce}"))
        .header("origin", "http://evil.example")
        .form(&fields(&csrf, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(off_site.status(), StatusCode::FORBIDDEN, "a login posted from another site");

    let ok = send(fields(&csrf, ADMIN_PASSWORD), Some(nonce.clone())).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    assert_eq!(ok.headers()[LOCATION], "/ui/users");
    let cookie = set_cookie(ok.headers(), "fp_session").unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP: no Secure attribute");
    let session = cookie_value(&cookie).to_owned();
    let behind_tls = client
        .post(app.url("/ui/login"))
        .header("cookie", format!("fp_login={nonce}"))
        .header("x-forwarded-proto", "https")
        .form(&fields(&csrf, ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert!(set_cookie(behind_tls.headers(), "fp_session").unwrap().contains("; Secure"));

    let overview = page(&app, "/", &session).await;
    assert!(overview.contains("<h1>Overview</h1>"), "{overview}");

    // The API never takes the cookie; the dashboard never takes a bearer token.
    let api = client.get(app.url("/api/v1/events")).header("cookie", format!("fp_session={session}")).send().await;
    assert_eq!(api.unwrap().status(), StatusCode::UNAUTHORIZED);
    let bearer = client.get(app.url("/ui/users")).bearer_auth(&session).send().await.unwrap();
    assert_eq!(bearer.status(), StatusCode::SEE_OTHER);

    // A forged or revoked session is sent to the login page again.
    let forged = get(&app, "/ui/users", Some("eyJhbGciOiJIUzI1NiJ9.e30.forged")).await;
    assert_eq!(forged.status(), StatusCode::SEE_OTHER);
    assert!(forged.headers()[LOCATION].to_str().unwrap().ends_with("&expired=1"));

    // Logging out needs the form's token; then the cookie is cleared.
    let csrf = csrf_of(&overview);
    let refused = post_form(&app, "/ui/logout", &session, &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let out = post_form(&app, "/ui/logout", &session, &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(set_cookie(out.headers(), "fp_session").unwrap().contains("Max-Age=0"));

    // Logging out everywhere revokes the session's token itself.
    let admin_id = subject(&app.admin_token);
    let own = page(&app, &format!("/ui/users/{admin_id}"), &session).await;
    let revoked =
        post_form(&app, &format!("/ui/users/{admin_id}/revoke-tokens"), &session, &[("csrf", &csrf_of(&own))]).await;
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    assert_eq!(get(&app, "/", Some(&session)).await.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_its_pages_and_no_other() {
    let app = TestApp::spawn().await;
    let user_token = app.user_with_role("plain", Role::User).await;
    app.user_with_role("boss", Role::Manager).await;
    let other = app.user_with_role("other", Role::User).await;
    let (plain_id, other_id) = (subject(&user_token), subject(&other));
    let user = log_in(&app, "plain", PASSWORD).await;
    let manager = log_in(&app, "boss", PASSWORD).await;
    let admin = log_in(&app, ADMIN, ADMIN_PASSWORD).await;

    // A plain user's dashboard is their own page, and the navigation shows only it.
    let home = get(&app, "/", Some(&user)).await;
    assert_eq!(home.status(), StatusCode::SEE_OTHER);
    assert_eq!(home.headers()[LOCATION].to_str().unwrap(), format!("/ui/users/{plain_id}"));
    let own = page(&app, &format!("/ui/users/{plain_id}"), &user).await;
    assert!(own.contains("My page") && !own.contains(r#"href="/ui/segments""#), "{own}");
    for path in [
        format!("/ui/users/{other_id}"),
        "/ui/users".to_owned(),
        "/ui/segments".to_owned(),
        "/ui/matching".to_owned(),
        "/ui/attendance".to_owned(),
        "/ui/insights".to_owned(),
        "/ui/models".to_owned(),
        "/ui/operations".to_owned(),
        "/ui/live".to_owned(),
    ] {
        let response = get(&app, &path, Some(&user)).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "a plain user opening {path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(response.text().await.unwrap().contains("Not for this account"));
    }

    // A manager sees every page but the model registry, which is for admins as in the API.
    for path in [
        "/",
        "/ui/users",
        &format!("/ui/users/{other_id}"),
        "/ui/segments",
        "/ui/matching",
        "/ui/attendance",
        "/ui/insights",
        "/ui/operations",
    ] {
        page(&app, path, &manager).await;
    }
    assert_eq!(get(&app, "/ui/models", Some(&manager)).await.status(), StatusCode::FORBIDDEN);
    let nav = page(&app, "/", &manager).await;
    assert!(!nav.contains(r#"href="/ui/models""#));
    let models = page(&app, "/ui/models", &admin).await;
    assert!(models.contains("No model has been trained yet."), "{models}");
    let live: serde_json::Value = get(&app, "/ui/live", Some(&manager)).await.json().await.unwrap();
    assert!(live["queue_depth"].is_string(), "{live}");

    // A search finds users by part of their name; a bad range is a 400 that says what to fix.
    let found = page(&app, "/ui/users?q=PLA", &manager).await;
    assert!(
        found.contains(&format!("/ui/users/{plain_id}")) && !found.contains(&format!("/ui/users/{other_id}\"")),
        "{found}"
    );
    let bad = get(&app, "/?from=2025-02-01&to=2025-01-01", Some(&manager)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("from: must be on or before to"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_state_changing_form_needs_the_sessions_csrf_token() {
    let app = TestApp::spawn().await;
    let victim = app.user_with_role("victim", Role::User).await;
    let victim_id = subject(&victim);
    app.grant_consent(&victim_id).await;
    let accepted = app.track(&victim, &json!({"user_id": victim_id, "event_type": "page_view"})).await;
    assert!(accepted.status().is_success());
    let admin = log_in(&app, ADMIN, ADMIN_PASSWORD).await;
    app.user_with_role("boss", Role::Manager).await;
    let manager = log_in(&app, "boss", PASSWORD).await;
    let token = csrf_of(&page(&app, "/ui/segments", &admin).await);
    let manager_token_field = csrf_of(&page(&app, "/", &manager).await);
    assert_ne!(token, manager_token_field, "each session has its own token");

    let erase = format!("/ui/users/{victim_id}/erase");
    let export = format!("/ui/users/{victim_id}/export");
    let revoke = format!("/ui/users/{victim_id}/revoke-tokens");
    for path in
        ["/ui/segments/run", "/ui/models/train", "/ui/insights/train-churn", &erase, &export, &revoke, "/ui/logout"]
    {
        for csrf in [None, Some(manager_token_field.as_str()), Some("0000")] {
            let mut fields = vec![("confirm", victim_id.as_str())];
            if let Some(csrf) = csrf {
                fields.push(("csrf", csrf));
            }
            let response = post_form(&app, path, &admin, &fields).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "POST {path} with csrf {csrf:?}");
        }
        let off_site = browser()
            .post(app.url(path))
            .header("cookie", format!("fp_session={admin}"))
            .header("origin", "http://evil.example")
            .form(&[("csrf", token.as_str()), ("confirm", victim_id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(off_site.status(), StatusCode::FORBIDDEN, "POST {path} from another site");
    }
    assert!(app.state.store.user(&victim_id).await.unwrap().is_some(), "nothing was erased");

    // With the token: an export downloads the user's data; an erasure needs the id typed.
    let exported = post_form(&app, &export, &admin, &[("csrf", &token)]).await;
    assert_eq!(exported.status(), StatusCode::OK);
    assert!(exported.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
    let document: serde_json::Value = exported.json().await.unwrap();
    assert_eq!(document["events"].as_array().map(Vec::len), Some(1), "{document}");
    let unconfirmed = post_form(&app, &erase, &admin, &[("csrf", &token), ("confirm", "someone-else")]).await;
    assert_eq!(unconfirmed.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unconfirmed.text().await.unwrap().contains("type the user id"));
    let erased = post_form(&app, &erase, &admin, &[("csrf", &token), ("confirm", &victim_id)]).await;
    assert_eq!(erased.status(), StatusCode::OK);
    assert!(erased.text().await.unwrap().contains("was erased"));
    assert!(app.state.store.user(&victim_id).await.unwrap().is_none());
    let started = post_form(&app, "/ui/segments/run", &admin, &[("csrf", &token)]).await;
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    app.stop().await;
}

/// An account with a second factor logs in to the dashboard in two steps: the password, then a
/// form asking for the code; a wrong code asks again, the right one opens the session, and the
/// second step needs the login form's CSRF token like the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_asks_an_account_with_a_second_factor_for_its_code() {
    use footprint::accounts::mfa::code_at;
    let app = TestApp::spawn().await;
    let token = app.user_with_role("tess", Role::Manager).await;
    let enrolled: serde_json::Value =
        app.post_json("/api/v1/auth/mfa/enroll", Some(&token), &json!({})).await.json().await.unwrap();
    let secret = enrolled["secret"].as_str().unwrap().to_owned();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let verified =
        app.post_json("/api/v1/auth/mfa/verify", Some(&token), &json!({"code": code_at(&secret, now).unwrap()})).await;
    assert_eq!(verified.status(), StatusCode::OK);

    let client = browser();
    let form = client.get(app.url("/ui/login")).send().await.unwrap();
    let nonce = cookie_value(set_cookie(form.headers(), "fp_login").unwrap()).to_owned();
    let csrf = csrf_of(&form.text().await.unwrap());
    let first = client
        .post(app.url("/ui/login"))
        .header("cookie", format!("fp_login={nonce}"))
        .form(&[("csrf", csrf.as_str()), ("username", "tess"), ("password", PASSWORD), ("next", "/ui/users")])
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK, "the second step's form, not a session");
    assert!(set_cookie(first.headers(), "fp_session").is_none());
    let step = first.text().await.unwrap();
    assert!(step.contains("authenticator app") && step.contains(r#"name="code""#), "{step}");
    let field = |name: &str| {
        let marker = format!(r#"name="{name}" value=""#);
        let at = step.find(&marker).unwrap_or_else(|| panic!("no {name} in {step}")) + marker.len();
        step[at..].split('"').next().unwrap().to_owned()
    };
    let (mfa_token, methods, step_csrf) = (field("mfa_token"), field("methods"), field("csrf"));
    let send = |csrf: String, code: String| {
        let request =
            client.post(app.url("/ui/login/second-step")).header("cookie", format!("fp_login={nonce}")).form(&[
                ("csrf", csrf),
                ("mfa_token", mfa_token.clone()),
                ("methods", methods.clone()),
                ("code", code),
                ("next", "/ui/users".to_owned()),
            ]);
        async move { request.send().await.unwrap() }
    };
    assert_eq!(send("0000".to_owned(), "123456".to_owned()).await.status(), StatusCode::FORBIDDEN, "CSRF");
    let wrong = send(step_csrf.clone(), "000000".to_owned()).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.text().await.unwrap().contains("That code is not right"));
    let right = send(step_csrf, code_at(&secret, now + 30).unwrap()).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    assert_eq!(right.headers()[LOCATION], "/ui/users");
    let session = cookie_value(set_cookie(right.headers(), "fp_session").expect("a session")).to_owned();
    page(&app, "/ui/users", &session).await;
    app.stop().await;
}
