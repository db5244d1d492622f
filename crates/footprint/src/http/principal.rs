//! The `Principal` extractor: the request's credential (`Authorization: Bearer …` or
//! `X-API-Key: …`) resolved by the instance's `Authenticator`.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::accounts::limits::{CallerTier, Limits};
use crate::accounts::principal::{API_KEY_HEADER, Principal};
use crate::accounts::usage::caller_key;
use crate::app::state::AppState;
use crate::http::middleware::LimitSlot;
use crate::kernel::error::ApiError;

/// The credential of a request: `Authorization: Bearer …` or `X-API-Key: …`.
fn credential(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(AUTHORIZATION) {
        let text =
            value.to_str().map_err(|_| ApiError::InvalidToken("the Authorization header is not text".to_owned()))?;
        let (scheme, token) = text.trim().split_once(' ').unwrap_or((text, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::InvalidToken("use Authorization: Bearer <token>".to_owned()));
        }
        return Ok(Some(token.trim().to_owned()));
    }
    if let Some(value) = parts.headers.get(API_KEY_HEADER) {
        let text = value.to_str().map_err(|_| ApiError::InvalidToken("the X-API-Key header is not text".to_owned()))?;
        return Ok(Some(text.trim().to_owned()));
    }
    Ok(None)
}

/// The caller behind `credential`, counted against its tier's request limit (the decision is
/// left in the request's [`LimitSlot`] for the answer's headers).
async fn admitted(parts: &mut Parts, state: &AppState, credential: &str) -> Result<Principal, ApiError> {
    let principal = admitted_any(parts, state, credential).await?;
    if principal.is_browser_key() {
        return Err(ApiError::Forbidden(
            "a publishable (browser) key may only send events to /api/collect from its sites; it never reads"
                .to_owned(),
        ));
    }
    Ok(principal)
}

/// The caller behind a publishable key of the browser tracker, counted as any caller; any other
/// credential is refused.
pub async fn admit_browser_key(
    parts: &mut Parts,
    state: &AppState,
    key: &str,
) -> Result<(Principal, footprint_analytics::Tier), ApiError> {
    let principal = admitted_any(parts, state, key).await?;
    if !principal.is_browser_key() {
        return Err(ApiError::Forbidden(
            "/api/collect takes a publishable key (footprint keys create --scope browser); servers send to /api/track"
                .to_owned(),
        ));
    }
    let tier = parts.extensions.get::<CallerTier>().map(|tier| tier.0).ok_or_else(|| ApiError::internal("no tier"))?;
    Ok((principal, tier))
}

async fn admitted_any(parts: &mut Parts, state: &AppState, credential: &str) -> Result<Principal, ApiError> {
    let (principal, tier) = state.auth.authenticate_with_tier(credential, state.clock.now()).await?;
    parts.extensions.insert(CallerTier(tier));
    let user_key = principal.user_id().map(|user_id| state.keys.pseudonymizer.user_key(user_id));
    let now_us = state.clock.now_us();
    let decision = state.limits.admit(&principal, user_key.as_deref(), tier, now_us).await;
    let allowed = decision.is_none_or(|decision| decision.allowed);
    if let Some(caller) = caller_key(&principal, user_key.as_deref()) {
        state.usage.count(&caller, now_us, !allowed);
    }
    let Some(decision) = decision else {
        return Ok(principal);
    };
    if let Some(slot) = parts.extensions.get::<LimitSlot>() {
        slot.set(decision);
    }
    if allowed { Ok(principal) } else { Err(Limits::refusal(tier, &decision)) }
}

/// The caller behind another SDK's write key (see `tracking::sources`): the HTTP Basic user
/// (Segment's way: `base64("key:")`; the password when the user is empty), else a Bearer token
/// or `X-API-Key`, else the key the body carries; counted against its tier as any request.
pub async fn admit_write_key(
    parts: &mut Parts,
    state: &AppState,
    body_key: Option<String>,
) -> Result<(Principal, footprint_analytics::Tier), ApiError> {
    let basic = match parts.headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok()) {
        Some(text) if text.len() > 6 && text[..6].eq_ignore_ascii_case("basic ") => Some(basic_user(&text[6..])?),
        _ => None,
    };
    let key = match basic {
        Some(key) => key,
        None => match credential(parts)?.or(body_key) {
            Some(key) => key,
            None => {
                return Err(ApiError::MissingCredentials(
                    "send the write key (an API key with the ingest scope) as the HTTP Basic user, or in the body \
                     (writeKey for Segment, api_key for PostHog)"
                        .to_owned(),
                ));
            }
        },
    };
    let principal = admitted(parts, state, &key).await?;
    let tier = parts
        .extensions
        .get::<CallerTier>()
        .map(|tier| tier.0)
        .ok_or_else(|| ApiError::internal("the caller's tier was not recorded"))?;
    Ok((principal, tier))
}

/// The user of HTTP Basic credentials, or the password when the user is empty.
fn basic_user(encoded: &str) -> Result<String, ApiError> {
    use base64::Engine;
    let invalid = || ApiError::InvalidToken("the Basic credentials are not base64 of \"key:\"".to_owned());
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(decoded).map_err(|_| invalid())?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    let key = if user.is_empty() { password } else { user };
    if key.is_empty() {
        return Err(invalid());
    }
    Ok(key.to_owned())
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match credential(parts)? {
            Some(credential) => admitted(parts, state, &credential).await,
            None => Err(ApiError::MissingCredentials(
                "this route needs credentials: send Authorization: Bearer <access token or API key>".to_owned(),
            )),
        }
    }
}

/// Optional authentication: no credential is `None`, a bad one is still a 401.
impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match credential(parts)? {
            Some(credential) => admitted(parts, state, &credential).await.map(Some),
            None => Ok(None),
        }
    }
}

/// The tier of the request's caller, for the routes that charge a quota; must come after the
/// `Principal` (which leaves it). Without a caller (an anonymous interaction): `None`.
impl OptionalFromRequestParts<AppState> for CallerTier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CallerTier>().copied())
    }
}

impl FromRequestParts<AppState> for CallerTier {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CallerTier>()
            .copied()
            .ok_or_else(|| ApiError::internal("the caller's tier is read after the Principal extractor"))
    }
}
