//! The web dashboard served at `/`: pages drawn on the server from the same services as the
//! API (each page calls them directly and inlines its charts as SVG), a session cookie for the
//! accounts that exist, CSRF tokens on every form, and a little JavaScript that only adds to
//! pages that work without it (the live ingestion figures, confirmations).
//!
//! `session` is who is looking, `page` the frame and its pieces; one module per page.

mod assets;
mod attendance;
mod error;
mod insights;
mod matching;
mod models;
mod operations;
mod overview;
pub mod page;
mod segments;
pub mod session;
mod users;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use maud::html;
use serde::Deserialize;

use self::page::PageError;
use self::session::{CsrfForm, Viewer};
use crate::accounts::service as accounts;
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::kernel::error::ApiError;

/// Every dashboard route. The API's routes never read the session cookie; these never read a
/// bearer token.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(overview::show))
        .route("/ui", get(|| async { redirect("/") }))
        .route("/ui/login", get(login_form).post(login))
        .route("/ui/login/second-step", post(second_step))
        .route("/ui/logout", post(logout))
        .route("/ui/live", get(overview::live))
        .route("/ui/users", get(users::list))
        .route("/ui/users/{id}", get(users::show))
        .route("/ui/users/{id}/export", post(users::export))
        .route("/ui/users/{id}/erase", post(users::erase))
        .route("/ui/users/{id}/revoke-tokens", post(users::revoke_tokens))
        .route("/ui/segments", get(segments::show))
        .route("/ui/segments/run", post(segments::run))
        .route("/ui/matching", get(matching::show))
        .route("/ui/attendance", get(attendance::show))
        .route("/ui/insights", get(insights::show))
        .route("/ui/insights/train-churn", post(insights::train_churn))
        .route("/ui/models", get(models::show))
        .route("/ui/models/train", post(models::train))
        .route("/ui/operations", get(operations::show))
        .route("/ui/assets/{file}", get(assets::serve))
        .layer(axum::middleware::map_response(assets::security_headers))
}

pub(crate) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(to) {
        response.headers_mut().insert(LOCATION, location);
    }
    response
}

/// A plain user's dashboard is their own page.
pub(crate) fn staff_only(viewer: &Viewer) -> Result<(), PageError> {
    viewer.principal().require_staff().map_err(PageError::Api)
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

async fn login_form(State(state): State<AppState>, headers: HeaderMap, Query(query): Query<LoginQuery>) -> Response {
    let note = query.expired.is_some().then_some("Your session has ended: log in again.");
    login_page(&state, &headers, StatusCode::OK, query.next.as_deref(), note, None)
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: Option<&str>,
    note: Option<&str>,
    failure: Option<&str>,
) -> Response {
    let next = session::safe_next(next);
    outside_session(state, headers, status, "Log in", |csrf| {
        html! {
            h1 { "Footprint" }
            p.lead { "Log in with your account." }
            @if let Some(note) = note { p.note role="status" { (note) } }
            @if let Some(failure) = failure { p.error role="alert" { (failure) } }
            form.login method="post" action="/ui/login" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                label for="username" { "Username or e-mail" }
                input #username name="username" type="text" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Log in" }
            }
        }
    })
}

/// A page of the login (no session yet): its form's CSRF token is a keyed hash of a nonce
/// cookie set here when the browser has none.
fn outside_session(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    content: impl FnOnce(&str) -> maud::Markup,
) -> Response {
    let (set_cookie, csrf) = session::login_csrf(state, headers);
    let body = page::bare_page(title, content(&csrf));
    let mut response = (status, [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    if let Some((name, value)) = set_cookie {
        response.headers_mut().append(name, value);
    }
    response
}

#[derive(Deserialize)]
struct LoginFields {
    csrf: Option<String>,
    next: Option<String>,
    username: Option<String>,
    password: Option<crate::app::config::Secret>,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    axum::Form(fields): axum::Form<LoginFields>,
) -> Result<Response, PageError> {
    session::check_login_csrf(&state, &headers, fields.csrf.as_deref())?;
    let next = fields.next.as_deref();
    let (Some(login), Some(password)) = (fields.username.filter(|u| !u.trim().is_empty()), fields.password) else {
        return Ok(login_page(
            &state,
            &headers,
            StatusCode::BAD_REQUEST,
            next,
            None,
            Some("Give a username and a password."),
        ));
    };
    let context = crate::accounts::risk::LoginContext {
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        ..Default::default()
    };
    match accounts::login(&state, login.trim(), password.expose().to_owned(), client, &context).await {
        Ok(accounts::LoginOutcome::SecondFactor(required)) => {
            Ok(second_step_page(&state, &headers, StatusCode::OK, next, &required.mfa_token, &required.methods, None))
        }
        Ok(accounts::LoginOutcome::Token(_, token)) => Ok(signed_in(&headers, &token, next)),
        Err(ApiError::InvalidCredentials) => {
            Ok(login_page(&state, &headers, StatusCode::UNAUTHORIZED, next, None, Some("Wrong username or password.")))
        }
        Err(ApiError::TooManyRequests { retry_after_secs, .. }) => Ok(login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            None,
            Some(&format!("Too many failed attempts from your network: try again in {retry_after_secs} s.")),
        )),
        Err(other) => Err(other.into()),
    }
}

async fn logout(
    viewer: Viewer,
    headers: HeaderMap,
    axum::Form(form): axum::Form<CsrfForm>,
) -> Result<Response, PageError> {
    viewer.check_form(&headers, form.csrf.as_deref())?;
    Ok(signed_out(&headers))
}

/// The login's second step: the code of the account's authenticator (or a recovery code), or
/// the code sent by e-mail; the signed challenge rides in a hidden field.
fn second_step_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    next: Option<&str>,
    mfa_token: &str,
    methods: &[&str],
    failure: Option<&str>,
) -> Response {
    let next = session::safe_next(next);
    let sent_to = if methods.contains(&"sms") {
        Some("the phone number of the account's profile, by text message")
    } else if methods.contains(&"email") {
        Some("the account's e-mail")
    } else {
        None
    };
    outside_session(state, headers, status, "Second step", |csrf| {
        html! {
            h1 { "Footprint" }
            p.lead {
                @if let Some(to) = sent_to { "A 6-digit sign-in code was sent to " (to) ": enter it below." }
                @else { "Enter the 6-digit code of your authenticator app, or one of your recovery codes." }
            }
            @if let Some(failure) = failure { p.error role="alert" { (failure) } }
            form.login method="post" action="/ui/login/second-step" {
                input type="hidden" name="csrf" value=(csrf);
                input type="hidden" name="next" value=(next);
                input type="hidden" name="mfa_token" value=(mfa_token);
                input type="hidden" name="methods" value=(methods.join(","));
                label for="code" { "Code" }
                input #code name="code" type="text" inputmode="numeric" autocomplete="one-time-code" autofocus;
                @if sent_to.is_none() {
                    label for="recovery_code" { "Or a recovery code" }
                    input #recovery_code name="recovery_code" type="text" autocomplete="off";
                }
                button type="submit" { "Continue" }
            }
        }
    })
}

#[derive(Deserialize)]
struct SecondStepFields {
    csrf: Option<String>,
    next: Option<String>,
    mfa_token: Option<String>,
    methods: Option<String>,
    code: Option<crate::app::config::Secret>,
    recovery_code: Option<crate::app::config::Secret>,
}

async fn second_step(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    axum::Form(fields): axum::Form<SecondStepFields>,
) -> Result<Response, PageError> {
    session::check_login_csrf(&state, &headers, fields.csrf.as_deref())?;
    let next = fields.next.as_deref();
    let methods_text = fields.methods.unwrap_or_default();
    let methods: Vec<&str> =
        methods_text.split(',').filter(|m| matches!(*m, "authenticator" | "recovery_code" | "email" | "sms")).collect();
    let Some(mfa_token) = fields.mfa_token.filter(|token| !token.is_empty()) else {
        return Ok(login_page(&state, &headers, StatusCode::BAD_REQUEST, next, None, Some("Log in again.")));
    };
    let given = |secret: &Option<crate::app::config::Secret>| {
        secret.as_ref().map(|s| s.expose().trim().to_owned()).filter(|s| !s.is_empty())
    };
    let (code, recovery) = (given(&fields.code), given(&fields.recovery_code));
    if code.is_none() && recovery.is_none() {
        let failure = Some("Enter the code.");
        return Ok(second_step_page(&state, &headers, StatusCode::BAD_REQUEST, next, &mfa_token, &methods, failure));
    }
    match crate::accounts::mfa::complete(&state, &mfa_token, code.as_deref(), recovery.as_deref(), client).await {
        Ok(user) => {
            let token = accounts::issue_token(&state, &user);
            Ok(signed_in(&headers, &token, next))
        }
        Err(ApiError::InvalidCredentials) => {
            let failure = Some("That code is not right (or was used already): try again.");
            Ok(second_step_page(&state, &headers, StatusCode::UNAUTHORIZED, next, &mfa_token, &methods, failure))
        }
        Err(ApiError::InvalidToken(_) | ApiError::TokenExpired) => Ok(login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            next,
            None,
            Some("The second step took too long: log in again."),
        )),
        Err(ApiError::TooManyRequests { retry_after_secs, .. }) => Ok(login_page(
            &state,
            &headers,
            StatusCode::TOO_MANY_REQUESTS,
            next,
            None,
            Some(&format!("Too many failed attempts from your network: try again in {retry_after_secs} s.")),
        )),
        Err(other) => Err(other.into()),
    }
}

/// To where the login was going, with the session cookie of `token`.
fn signed_in(headers: &HeaderMap, token: &crate::accounts::jwt::IssuedToken, next: Option<&str>) -> Response {
    let mut response = redirect(&session::safe_next(next));
    let (name, value) = session::session_cookie(headers, &token.access_token, token.expires_in);
    response.headers_mut().append(name, value);
    response
}

/// To the login page, the session cookie cleared.
pub(crate) fn signed_out(headers: &HeaderMap) -> Response {
    let mut response = redirect("/ui/login");
    let (name, value) = session::cleared_session(headers);
    response.headers_mut().append(name, value);
    response
}
