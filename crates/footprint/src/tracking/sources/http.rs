//! The routes other SDKs post to: Segment's `/v1/{track,identify,page,screen,group,alias,batch}`
//! and PostHog's `/batch`, `/capture`, `/e`, `/i/v0/e` (each also with a trailing slash, as the
//! SDKs write them). The write key is an API key with the `ingest` scope, sent the SDK's way
//! (Segment: HTTP Basic user or `writeKey`; PostHog: `api_key` or `token`) or Footprint's; or,
//! from a web page (`posthog-js`), a publishable key, checked as the tracker's are (`page.rs`).
//! For `posthog-js`, PostHog's remote configuration (`/array/{token}/config`) and feature flags
//! (`/flags`, `/decide`) answer what Footprint offers: gzip, and no flags, recordings, surveys,
//! heatmaps or site apps, so the library sends only events.

use std::net::IpAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::header::CONTENT_ENCODING;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, options, post};
use footprint_analytics::Tier;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Message, SourceReport, accept, decode_body, page, posthog, segment};
use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::principal::admit_write_key;
use crate::kernel::error::ApiError;

const POSTHOG_PATHS: [&str; 7] = ["/batch/", "/capture", "/capture/", "/e", "/e/", "/i/v0/e", "/i/v0/e/"];
const FLAG_PATHS: [&str; 4] = ["/flags", "/flags/", "/decide", "/decide/"];

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    let mut router = OpenApiRouter::new()
        .routes(routes!(segment_call))
        .routes(routes!(posthog_capture))
        .route("/batch", options(preflight))
        .route("/array/{token}/config", get(posthog_config));
    for path in POSTHOG_PATHS {
        router = router.route(path, post(posthog_capture).options(preflight));
    }
    for path in FLAG_PATHS {
        router = router.route(path, post(posthog_flags).options(preflight));
    }
    router.route("/v1/{call}/", post(segment_call))
}

/// Segment's HTTP Tracking API (and RudderStack's): `call` is `track`, `identify`, `page`,
/// `screen`, `group`, `alias` (the body is one message) or `batch` (`{"batch": [messages…]}`,
/// each with its `type`). The write key is an API key with the `ingest` scope, as the HTTP Basic
/// user (`Authorization: Basic base64("fp_…:")`, Segment's way) or `writeKey` in the body.
/// Every message goes through the same validation, consent and durable path as `/api/track`;
/// the answer comes once they are committed.
#[utoipa::path(post, path = "/v1/{call}", tag = "sdk",
    params(("call" = String, Path, description = "track, identify, page, screen, group, alias or batch")),
    request_body(content = Object, description = "a Segment message, or {\"batch\": [messages…], \"sentAt\"?, \"context\"?}"),
    responses(
        (status = 200, body = SourceReport),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 404, body = crate::kernel::error::ErrorBody),
        (status = 413, body = crate::kernel::error::ErrorBody), (status = 503, body = crate::kernel::error::ErrorBody),
    ))]
async fn segment_call(State(state): State<AppState>, ClientIp(client): ClientIp, request: Request) -> Response {
    let mut allowed_origin = None;
    let call_name = request.uri().path().trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_owned();
    let result = async {
        let call = match call_name.as_str() {
            "batch" | "import" => None,
            name => Some(segment::Call::parse(name).ok_or_else(|| {
                ApiError::NotFound(format!(
                    "no Segment call {name:?}: use track, identify, page, screen, group, alias or batch"
                ))
            })?),
        };
        let (mut parts, body) = read(&state, request).await?;
        let received = state.clock.now();
        let messages = segment::messages(call, &body, received).map_err(ApiError::Validation)?;
        let caller = Caller { parts: &mut parts, body_key: segment::write_key(&body), client };
        store(&state, caller, messages, &mut allowed_origin).await
    }
    .await;
    let response = match result {
        Ok(report) => Json(report).into_response(),
        Err(error) => sdk_error(error).await,
    };
    page::for_origin(response, allowed_origin)
}

/// PostHog's capture API, as its SDKs send it: `{"api_key", "batch": [events…], "sent_at"}`,
/// one event with its `api_key`, or an array of events carrying `properties.token`; gzip
/// (`Content-Encoding: gzip` or `?compression=gzip-js`) and form-encoded base64 `data=` bodies
/// are read too. Also served at `/batch/`, `/capture`, `/e` and `/i/v0/e` (with or without the
/// trailing slash). Answers `{"status": 1, …}` once the events are committed.
#[utoipa::path(post, path = "/batch", tag = "sdk",
    request_body(content = Object, description = "{\"api_key\", \"batch\": [{\"event\", \"distinct_id\", \"properties\", \"timestamp\", \"uuid\"}…]}"),
    responses(
        (status = 200, description = "the report, with PostHog's `status: 1`", body = SourceReport),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody), (status = 413, body = crate::kernel::error::ErrorBody),
        (status = 503, body = crate::kernel::error::ErrorBody),
    ))]
async fn posthog_capture(State(state): State<AppState>, ClientIp(client): ClientIp, request: Request) -> Response {
    let mut allowed_origin = None;
    let result = async {
        let (mut parts, body) = read(&state, request).await?;
        let messages = posthog::messages(&body, state.clock.now()).map_err(ApiError::Validation)?;
        let caller = Caller { parts: &mut parts, body_key: posthog::api_key(&body), client };
        store(&state, caller, messages, &mut allowed_origin).await
    }
    .await;
    let response = match result {
        Ok(report) => {
            let mut body = serde_json::to_value(report).unwrap_or_else(|_| json!({}));
            body["status"] = json!(1);
            Json(body).into_response()
        }
        Err(error) => sdk_error(error).await,
    };
    page::for_origin(response, allowed_origin)
}

/// PostHog's remote configuration, which `posthog-js` reads when it starts: what Footprint
/// offers (gzip bodies; no feature flags, session recordings, surveys, heatmaps, dead-click
/// capture or site apps, which would send to routes Footprint does not have). `token` must be
/// a publishable key that lists the page's origin: a server's key does not belong in a URL.
async fn posthog_config(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    Path(token): Path<String>,
    request: Request,
) -> Response {
    if !page::is_publishable(&token) {
        return sdk_error(ApiError::Forbidden(
            "the remote configuration is posthog-js's, in a page: give it a publishable key (footprint keys create \
             --scope browser --origin …); server SDKs need none"
                .to_owned(),
        ))
        .await;
    }
    let mut allowed_origin = None;
    let (mut parts, _) = request.into_parts();
    let caller = Caller { parts: &mut parts, body_key: Some(token), client };
    let response = match admit(&state, caller, &mut allowed_origin).await {
        Ok(_) => Json(json!({
            "supportedCompression": ["gzip-js", "base64"],
            "hasFeatureFlags": false,
            "sessionRecording": false,
            "surveys": false,
            "heatmaps": false,
            "captureDeadClicks": false,
            "capturePerformance": false,
            "siteApps": [],
        }))
        .into_response(),
        Err(error) => sdk_error(error).await,
    };
    page::for_origin(response, allowed_origin)
}

/// PostHog's feature flags (`/flags`, and the older `/decide`): Footprint has none, and says so
/// in the shapes the SDKs read (v2's `flags`, v1's `featureFlags` and `featureFlagPayloads`).
async fn posthog_flags(State(state): State<AppState>, ClientIp(client): ClientIp, request: Request) -> Response {
    let mut allowed_origin = None;
    let result = async {
        let (mut parts, body) = read(&state, request).await?;
        let caller = Caller { parts: &mut parts, body_key: posthog::api_key(&body), client };
        admit(&state, caller, &mut allowed_origin).await
    }
    .await;
    let response = match result {
        Ok(_) => Json(json!({
            "flags": {},
            "featureFlags": {},
            "featureFlagPayloads": {},
            "errorsWhileComputingFlags": false,
            "quotaLimited": [],
        }))
        .into_response(),
        Err(error) => sdk_error(error).await,
    };
    page::for_origin(response, allowed_origin)
}

/// The CORS preflight of PostHog's routes, for a page whose `posthog-js` sends JSON (with
/// compression turned off): the key is in the body, which a preflight does not carry, so any
/// origin may ask; the request itself is answered, and stored, only for an origin its
/// publishable key lists.
async fn preflight(headers: HeaderMap) -> Response {
    let Some(origin) = page::origin_of(&headers) else {
        return ApiError::Forbidden("a preflight needs an Origin".to_owned()).into_response();
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    page::preflight_headers(response.headers_mut(), &origin);
    response
}

/// The request's parts and its body as JSON, inflated and decoded, within the batch limit.
async fn read(state: &AppState, request: Request) -> Result<(Parts, Value), ApiError> {
    let max_bytes = state.config.ingest.batch_max_bytes;
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, max_bytes).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!("a body holds at most {max_bytes} bytes; send smaller batches"))
    })?;
    let gzip = parts
        .headers
        .get(CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.eq_ignore_ascii_case("gzip"))
        || parts.uri.query().is_some_and(|query| query.contains("compression=gzip"));
    let body = tokio::task::spawn_blocking(move || decode_body(&bytes, gzip, max_bytes))
        .await
        .map_err(ApiError::internal)??;
    Ok((parts, body))
}

/// Who sends: the request's parts (its credentials), the key its body carries, its address.
struct Caller<'a> {
    parts: &'a mut Parts,
    body_key: Option<String>,
    client: Option<IpAddr>,
}

/// Admits the caller: a publishable key as a page's ([`page::admit`]), anything else as a write
/// key. Returns whether it is a page's key, with the principal and tier.
async fn admit(
    state: &AppState,
    caller: Caller<'_>,
    allowed_origin: &mut Option<String>,
) -> Result<(bool, Principal, Tier), ApiError> {
    if let Some(key) = caller.body_key.as_deref().filter(|key| page::is_publishable(key)) {
        let (principal, tier) = page::admit(state, caller.parts, key, caller.client, allowed_origin).await?;
        return Ok((true, principal, tier));
    }
    let (principal, tier) = admit_write_key(caller.parts, state, caller.body_key).await?;
    Ok((false, principal, tier))
}

/// Admits the caller, then stores the messages (a page's restricted as `page.rs` says).
async fn store(
    state: &AppState,
    caller: Caller<'_>,
    mut messages: Vec<Result<Message, String>>,
    allowed_origin: &mut Option<String>,
) -> Result<SourceReport, ApiError> {
    let client = caller.client;
    let (from_page, principal, tier) = admit(state, caller, allowed_origin).await?;
    if from_page {
        page::restrict(&mut messages, client);
    }
    let max_events = state.config.ingest.batch_max_events;
    if messages.len() > max_events {
        return Err(ApiError::PayloadTooLarge(format!(
            "a batch holds at most {max_events} messages (got {}); split it",
            messages.len()
        )));
    }
    if messages.is_empty() {
        return Err(ApiError::Validation("the batch holds no messages".to_owned()));
    }
    accept(state, &principal, tier, messages).await
}

/// Footprint's error, with the fields the SDKs log as well: Segment's `code` and `message`,
/// PostHog's `detail`.
async fn sdk_error(error: ApiError) -> Response {
    let (parts, body) = error.into_response().into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let mut body: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({}));
    let (code, message) = (body["error"]["code"].clone(), body["error"]["message"].clone());
    body["code"] = code;
    body["message"] = message.clone();
    body["detail"] = message;
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body.to_string()))
}
