//! Middleware of every route: request latency by route template (bounded cardinality), the
//! JSON answer of a handler that panicked, and the JSON error shape for any error answer that a
//! layer below the handlers sent as plain text or with no body.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::limits::Decision;
use crate::app::state::AppState;
use crate::kernel::error::{Code, error_body};
use crate::kernel::telemetry::HttpLabels;

/// Where the `Principal` extractor leaves the request's rate-limit decision, for
/// [`rate_limit_headers`] to put on the answer.
#[derive(Clone, Default)]
pub struct LimitSlot(Arc<Mutex<Option<Decision>>>);

impl LimitSlot {
    pub fn set(&self, decision: Decision) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(decision);
    }

    fn take(&self) -> Option<Decision> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take()
    }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) on every answer to
/// a request counted against a limited tier, refused ones included.
pub async fn rate_limit_headers(mut request: Request, next: Next) -> Response {
    let slot = LimitSlot::default();
    request.extensions_mut().insert(slot.clone());
    let mut response = next.run(request).await;
    if let Some(decision) = slot.take() {
        let headers = response.headers_mut();
        for (name, value) in [
            ("ratelimit-limit", u64::from(decision.limit)),
            ("ratelimit-remaining", u64::from(decision.remaining)),
            ("ratelimit-reset", decision.reset_secs),
        ] {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }
    response
}

/// `Footprint-Processing-Lag` on the answer of a read that did not wait for processing: the
/// events committed but not yet folded into what it answered from (`tracking::freshness`).
pub async fn processing_lag(request: Request, next: Next) -> Response {
    use crate::tracking::freshness::{LAG_HEADER, READ_LAG};
    let slot = std::cell::Cell::new(None);
    let (mut response, lag) = READ_LAG
        .scope(slot, async {
            let response = next.run(request).await;
            (response, READ_LAG.with(std::cell::Cell::get))
        })
        .await;
    if let Some(lag) = lag {
        response.headers_mut().insert(HeaderName::from_static(LAG_HEADER), HeaderValue::from(lag));
    }
    response
}

/// Records each request's latency under its route template (bounded cardinality).
pub async fn track_http(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    // Only known methods become labels: any other text would grow the metrics without bound.
    let method = match request.method().as_str() {
        known @ ("GET" | "POST" | "PUT" | "DELETE" | "PATCH" | "HEAD" | "OPTIONS") => known.to_owned(),
        _ => "OTHER".to_owned(),
    };
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = HttpLabels { method, route, status: response.status().as_u16() };
    state.metrics.observe_http(labels, started.elapsed().as_secs_f64());
    response
}

pub(super) fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(error_body(Code::InternalError, "internal error; the server log has the details")),
    )
        .into_response()
}

/// Any 4xx or 5xx that is not already JSON (or a dashboard page) (a body limit's plain text, an empty answer from a
/// layer) becomes the JSON error of its status, so every error a client sees has one shape.
pub(super) async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json =
        response.headers().get(axum::http::header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).is_some_and(
            |value| {
                let value = value.to_ascii_lowercase();
                // The dashboard's pages answer a browser with an HTML page of the error.
                value.contains("json") || value.starts_with("text/html")
            },
        );
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "the request body is larger than this route accepts"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (Code::UnsupportedMediaType, "send the body as JSON with Content-Type: application/json")
        }
        StatusCode::NOT_FOUND => (Code::NotFound, "no route here; the API is described at /docs and /openapi.json"),
        StatusCode::METHOD_NOT_ALLOWED => (Code::MethodNotAllowed, "this route does not accept this method; see /docs"),
        StatusCode::UNPROCESSABLE_ENTITY => (Code::ValidationError, "the request's content is not acceptable"),
        StatusCode::TOO_MANY_REQUESTS => (Code::RateLimitExceeded, "too many requests; retry later"),
        StatusCode::SERVICE_UNAVAILABLE => (Code::ServiceUnavailable, "the service is unavailable; retry shortly"),
        status if status.is_client_error() => (Code::InvalidParameters, "the request is malformed"),
        _ => (Code::InternalError, "internal error; the server log has the details"),
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    let body = axum::body::Body::from(error_body(code, message).to_string());
    Response::from_parts(parts, body)
}
