//! Requests from a web page with a publishable key (`fp_pub_…`), whichever API they speak — the
//! tracker's `/api/collect`, or PostHog's capture API as `posthog-js` sends it: the key must be
//! a publishable one and list the request's `Origin`, each client IP stays within
//! `ingest.browser_requests_per_minute`, and the answer carries `Access-Control-Allow-Origin`
//! for that origin only. What a page sends loses its traits and its links without an event (a
//! public key must not rewrite profiles nor join arbitrary ids), and its events get the client's
//! IP (truncated on the way in, like any).

use std::net::IpAddr;
use std::time::Duration;

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
    ORIGIN, VARY,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use footprint_analytics::Tier;
use serde_json::Value;

use super::Message;
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::principal::admit_browser_key;
use crate::kernel::error::ApiError;

/// Whether `key` is a publishable key (by its form; whether it is a valid one is checked later).
pub fn is_publishable(key: &str) -> bool {
    key.starts_with("fp_pub_")
}

/// Admits a page's request with the publishable `key`: the key, then its origins (the request's
/// origin is left in `allowed_origin` once it is known to be one of the key's, so that even a
/// refusal after that point can be read by the page), then the client's budget.
pub async fn admit(
    state: &AppState,
    parts: &mut Parts,
    key: &str,
    client: Option<IpAddr>,
    allowed_origin: &mut Option<String>,
) -> Result<(Principal, Tier), ApiError> {
    let origin = origin_of(&parts.headers).ok_or_else(|| {
        ApiError::Forbidden("no Origin header: a publishable key is for requests from a web page".to_owned())
    })?;
    let (principal, tier) = admit_browser_key(parts, state, key).await?;
    if !principal.browser_origins().contains(&origin.as_str()) {
        return Err(ApiError::Forbidden(format!("this publishable key is not for {origin}")));
    }
    *allowed_origin = Some(origin);
    if let Some(ip) = client {
        let limit = state.config.ingest.browser_requests_per_minute;
        let decision = state
            .limits
            .limiter()
            .check(&format!("browser-ip:{ip}"), limit, Duration::from_secs(60), state.clock.now_us())
            .await;
        if !decision.allowed {
            return Err(ApiError::TooManyRequests {
                message: format!("this address sent more than {limit} batches a minute; retry later"),
                retry_after_secs: decision.retry_after_secs,
            });
        }
    }
    Ok((principal, tier))
}

/// Takes from a page's messages what a public key may not do, and gives their events the
/// client's IP.
pub fn restrict(messages: &mut [Result<Message, String>], client: Option<IpAddr>) {
    for message in messages.iter_mut().flatten() {
        message.traits = None;
        if message.event.is_none() {
            message.link = None;
        }
        if let (Some(event), Some(ip)) = (message.event.as_mut(), client)
            && let Some(Value::Object(context)) = event.get_mut("context")
        {
            context.insert("ip".to_owned(), Value::String(ip.to_string()));
        }
    }
}

/// The answer, readable by the page of `allowed_origin` (and by no other).
pub fn for_origin(mut response: Response, allowed_origin: Option<String>) -> Response {
    if let Some(origin) = allowed_origin.and_then(|origin| HeaderValue::from_str(&origin).ok()) {
        response.headers_mut().insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    response.headers_mut().insert(VARY, HeaderValue::from_static("Origin"));
    response
}

/// The headers of an accepted preflight: `origin` may `POST` with a `Content-Type`.
pub fn preflight_headers(headers: &mut HeaderMap, origin: &str) {
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    }
    headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST"));
    headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static("content-type"));
    headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    headers.insert(VARY, HeaderValue::from_static("Origin"));
}

/// The request's `Origin`, normalised as keys keep their origins.
pub fn origin_of(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(ORIGIN)?.to_str().ok()?;
    crate::accounts::api_key::origin(text).ok()
}
