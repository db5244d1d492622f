//! The browser tracker: `/footprint.js` (served from the binary, gzip when the browser takes
//! it) and `/api/collect`, where it sends Segment-shaped batches with a publishable key
//! (`footprint keys create --scope browser --origin https://shop.example`). A publishable key is
//! public: it may only send, only from the origins it lists (CORS is answered for exactly
//! those, preflight included), each client IP within `ingest.browser_requests_per_minute`, and
//! it never reads. What it sends goes through the same validation, consent and durable path as
//! `/api/track`, with the client's IP (truncated) in the context; traits and aliases from a page
//! are not taken (a public key must not rewrite profiles nor join arbitrary ids). The checks of a
//! page's key are `page.rs`'s, shared with PostHog's capture API as `posthog-js` sends it.

use std::io::Write;
use std::sync::LazyLock;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{SourceReport, accept, decode_body, page, segment};
use crate::app::state::AppState;
use crate::http::client::ClientIp;
use crate::http::principal::admit_browser_key;
use crate::kernel::error::ApiError;

/// The tracker as written.
pub const SCRIPT: &str = include_str!("footprint.js");

/// The tracker gzipped once, for browsers that take it.
pub static SCRIPT_GZIP: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to memory cannot fail.
    let _ = encoder.write_all(SCRIPT.as_bytes());
    encoder.finish().unwrap_or_default()
});

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(collect, preflight)).route("/footprint.js", get(script))
}

async fn script(headers: HeaderMap) -> Response {
    let gzip = headers
        .get(ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accepted| accepted.split(',').any(|coding| coding.trim().starts_with("gzip")));
    let mut response = if gzip {
        let mut response = SCRIPT_GZIP.clone().into_response();
        response.headers_mut().insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else {
        SCRIPT.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CollectParams {
    /// The publishable key (`fp_pub_…`); it may also come as `writeKey` in the body.
    key: Option<String>,
}

/// The browser tracker's batches (Segment's `/v1/batch` shape: `{"batch": [messages…],
/// "sentAt"}`), sent as `text/plain` so that no preflight is needed. Needs a publishable key and
/// an `Origin` the key lists; answers with `Access-Control-Allow-Origin` for that origin.
#[utoipa::path(post, path = "/api/collect", tag = "sdk", params(CollectParams),
    request_body(content = Object, description = "{\"batch\": [Segment messages…], \"sentAt\"?}", content_type = "text/plain"),
    responses(
        (status = 200, body = SourceReport),
        (status = 400, body = crate::kernel::error::ErrorBody), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, description = "not a publishable key, or an origin the key does not list", body = crate::kernel::error::ErrorBody),
        (status = 429, description = "this client IP sent too much; see Retry-After", body = crate::kernel::error::ErrorBody),
    ))]
async fn collect(State(state): State<AppState>, ClientIp(client): ClientIp, request: Request) -> Response {
    let mut allowed_origin = None;
    let response = match collect_batch(&state, client, request, &mut allowed_origin).await {
        Ok(report) => Json(report).into_response(),
        Err(error) => error.into_response(),
    };
    page::for_origin(response, allowed_origin)
}

/// Reads the batch, admits the page's key ([`page::admit`]), then stores the batch.
async fn collect_batch(
    state: &AppState,
    client: Option<std::net::IpAddr>,
    request: Request,
    allowed_origin: &mut Option<String>,
) -> Result<SourceReport, ApiError> {
    if page::origin_of(request.headers()).is_none() {
        return Err(ApiError::Forbidden(
            "no Origin header: /api/collect takes requests from the tracker in a page".to_owned(),
        ));
    }
    let max_bytes = state.config.ingest.batch_max_bytes;
    let query_key = key_in_query(request.uri().query());
    let (mut parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, max_bytes).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!("a body holds at most {max_bytes} bytes; send smaller batches"))
    })?;
    let body: Value = decode_body(&bytes, false, max_bytes)?;
    let key = query_key.or_else(|| segment::write_key(&body)).ok_or_else(|| {
        ApiError::MissingCredentials("send the publishable key as ?key=fp_pub_… (the tracker does)".to_owned())
    })?;
    let (principal, tier) = page::admit(state, &mut parts, &key, client, allowed_origin).await?;
    let mut messages = segment::messages(None, &body, state.clock.now()).map_err(ApiError::Validation)?;
    page::restrict(&mut messages, client);
    if messages.is_empty() {
        return Err(ApiError::Validation("the batch holds no messages".to_owned()));
    }
    accept(state, &principal, tier, messages).await
}

/// The CORS preflight of `/api/collect` (for a client that sends JSON rather than text): allowed
/// for exactly the origins the key lists.
#[utoipa::path(options, path = "/api/collect", tag = "sdk", params(CollectParams),
    responses((status = 204, description = "the origin may post"), (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn preflight(State(state): State<AppState>, request: Request) -> Response {
    let origin = page::origin_of(request.headers());
    let key = key_in_query(request.uri().query());
    let (mut parts, _) = request.into_parts();
    let refused = |why: &str| ApiError::Forbidden(why.to_owned()).into_response();
    let (Some(origin), Some(key)) = (origin, key) else {
        return refused("a preflight needs an Origin and ?key=fp_pub_…");
    };
    let principal = match admit_browser_key(&mut parts, &state, &key).await {
        Ok((principal, _)) => principal,
        Err(error) => return error.into_response(),
    };
    if !principal.browser_origins().contains(&origin.as_str()) {
        return refused("this publishable key is not for this origin");
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    page::preflight_headers(response.headers_mut(), &origin);
    response
}

fn key_in_query(query: Option<&str>) -> Option<String> {
    serde_urlencoded::from_str::<CollectParams>(query?).ok()?.key.filter(|key| !key.is_empty())
}
