//! Middleware of every route: request latency by route template (bounded cardinality), and the
//! JSON answer of a handler that panicked.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::app::state::AppState;
use crate::kernel::error::{Code, error_body};
use crate::kernel::telemetry::HttpLabels;

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
