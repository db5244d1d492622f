//! Who is looking at the dashboard: a session cookie holding the account's access token
//! (`HttpOnly`, `SameSite=Strict`, `Secure` behind TLS), read only by the dashboard's routes —
//! the API never accepts a cookie — and the CSRF token every form carries.
//!
//! The CSRF token is a keyed hash of the session's token (the pseudonym key is shared by every
//! node, so any node checks it); the login form, before there is a session, carries the keyed
//! hash of a random nonce kept in a short-lived cookie of its own. A state-changing request
//! must also come from this origin when the browser says where it comes from (`Origin`).

use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, HOST, ORIGIN, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use footprint_analytics::Role;

use super::error::PageError;
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::crypto::random_token;

pub const SESSION_COOKIE: &str = "fp_session";
const LOGIN_COOKIE: &str = "fp_login";

/// The signed-in account of a dashboard request.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: String,
    pub username: Option<String>,
    pub role: Role,
    /// The token every form of this session must send back.
    pub csrf: String,
}

impl Viewer {
    /// The same checks as the API's, with the same principal.
    pub fn principal(&self) -> Principal {
        Principal::User { user_id: self.user_id.clone(), role: self.role, username: self.username.clone() }
    }

    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn name(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.user_id)
    }

    /// Refuses a form that does not carry this session's CSRF token or comes from elsewhere.
    pub fn check_form(&self, headers: &HeaderMap, csrf: Option<&str>) -> Result<(), PageError> {
        same_origin(headers)?;
        match csrf {
            Some(sent) if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) => Ok(()),
            _ => Err(PageError::Csrf),
        }
    }
}

/// A form that carries nothing but the session's CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: Option<String>,
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(key, value)| (key == name).then_some(value))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A browser that says where a request comes from must say this host.
fn same_origin(headers: &HeaderMap) -> Result<(), PageError> {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    if origin_host.eq_ignore_ascii_case(host) { Ok(()) } else { Err(PageError::Csrf) }
}

/// Whether the browser reached us over TLS (directly or through a proxy that says so).
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

fn cookie_header(headers: &HeaderMap, name: &str, value: &str, path: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if over_tls(headers) { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&text).expect("cookie values are base64url or hex")
}

/// The `Set-Cookie` of a new session.
pub fn session_cookie(headers: &HeaderMap, token: &str, max_age_secs: u64) -> (axum::http::HeaderName, HeaderValue) {
    (SET_COOKIE, cookie_header(headers, SESSION_COOKIE, token, "/", max_age_secs))
}

/// The `Set-Cookie` that ends the session in this browser.
pub fn cleared_session(headers: &HeaderMap) -> (axum::http::HeaderName, HeaderValue) {
    (SET_COOKIE, cookie_header(headers, SESSION_COOKIE, "", "/", 0))
}

/// The login form's CSRF: the nonce cookie to set (when the browser has none yet) and the
/// token the form carries.
pub fn login_csrf(state: &AppState, headers: &HeaderMap) -> (Option<(axum::http::HeaderName, HeaderValue)>, String) {
    match cookie(headers, LOGIN_COOKIE).filter(|nonce| nonce.len() >= 32) {
        Some(nonce) => (None, state.keys.pseudonymizer.csrf_token("login", nonce)),
        None => {
            let nonce = random_token(24);
            let token = state.keys.pseudonymizer.csrf_token("login", &nonce);
            (Some((SET_COOKIE, cookie_header(headers, LOGIN_COOKIE, &nonce, "/ui/login", 3600))), token)
        }
    }
}

/// Checks the login form's CSRF token against the browser's nonce cookie.
pub fn check_login_csrf(state: &AppState, headers: &HeaderMap, csrf: Option<&str>) -> Result<(), PageError> {
    same_origin(headers)?;
    let nonce = cookie(headers, LOGIN_COOKIE).ok_or(PageError::Csrf)?;
    let expected = state.keys.pseudonymizer.csrf_token("login", nonce);
    match csrf {
        Some(sent) if constant_time_eq(sent.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// Where to go after logging in: a path of this site only.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let next = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(PageError::LoginNeeded { next, expired: false });
        };
        match state.auth.verify_access_token(token, state.clock.now()).await {
            Ok(claims) => Ok(Viewer {
                csrf: state.keys.pseudonymizer.csrf_token("session", token),
                user_id: claims.sub,
                username: claims.username,
                role: claims.role,
            }),
            Err(crate::kernel::error::ApiError::InvalidToken(_) | crate::kernel::error::ApiError::TokenExpired) => {
                Err(PageError::LoginNeeded { next, expired: true })
            }
            Err(other) => Err(PageError::Api(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("a=1; fp_session=tok.en; b=2"));
        headers.append(COOKIE, HeaderValue::from_static("fp_login=n"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("tok.en"));
        assert_eq!(cookie(&headers, LOGIN_COOKIE), Some("n"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn only_paths_of_this_site_are_followed_after_login() {
        assert_eq!(safe_next(Some("/ui/users?q=a")), "/ui/users?q=a");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn a_form_from_another_origin_is_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8001"));
        assert!(same_origin(&headers).is_ok(), "no Origin: nothing to compare");
        headers.insert(ORIGIN, HeaderValue::from_static("http://127.0.0.1:8001"));
        assert!(same_origin(&headers).is_ok());
        headers.insert(ORIGIN, HeaderValue::from_static("http://evil.example"));
        assert!(matches!(same_origin(&headers), Err(PageError::Csrf)));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_tls() {
        let mut headers = HeaderMap::new();
        let (_, plain) = session_cookie(&headers, "t", 60);
        assert_eq!(plain.to_str().unwrap(), "fp_session=t; Path=/; Max-Age=60; HttpOnly; SameSite=Strict");
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let (_, secure) = session_cookie(&headers, "t", 60);
        assert!(secure.to_str().unwrap().ends_with("; Secure"));
    }
}
