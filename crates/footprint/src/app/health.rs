//! Operations: liveness, readiness (the store answers) and Prometheus metrics. Public.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::principal::Principal;
use crate::app::state::AppState;
use crate::kernel::error::ApiError;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health)).routes(routes!(ready)).routes(routes!(metrics))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    status: &'static str,
    /// `sqlite` or `postgres`.
    store: &'static str,
    /// Where the tiers' request budgets are counted: `redis` (shared by every node), `local`
    /// (this node; no `REDIS_URL`), or `local (redis unavailable)` while Redis does not answer.
    rate_limits: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok", version: env!("CARGO_PKG_VERSION") })
}

/// Readiness: the store answers a query and the ingestion writer runs.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = crate::kernel::error::ErrorBody)))]
async fn ready(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    if !state.ingest.writer_alive() {
        return Err(ApiError::Unavailable {
            message: "the ingestion writer has stopped; restart this node".to_owned(),
            retry_after_secs: None,
        });
    }
    state.store.ping().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check failed");
        ApiError::Unavailable { message: "the store does not answer".to_owned(), retry_after_secs: Some(5) }
    })?;
    let limiter = state.limits.limiter();
    let rate_limits = match (limiter.kind(), limiter.degraded()) {
        (_, true) => "local (redis unavailable)",
        (kind, false) => kind,
    };
    Ok(Json(Readiness { status: "ready", store: state.store.backend(), rate_limits }))
}

/// Prometheus/OpenMetrics text: events by outcome, queue depth, commit sizes and latency,
/// HTTP latency by route.
///
/// Public when `server.metrics_access` allows it (by default: when the server listens on a
/// loopback or private address), else for an admin or an API key with the `metrics` scope.
#[utoipa::path(get, path = "/metrics", tag = "operations", security((), ("bearer" = []), ("api_key" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = 401, body = crate::kernel::error::ErrorBody),
        (status = 403, body = crate::kernel::error::ErrorBody)))]
async fn metrics(State(state): State<AppState>, principal: Option<Principal>) -> Result<impl IntoResponse, ApiError> {
    if !state.config.server.metrics_are_public() {
        match principal {
            Some(principal) => principal.require_metrics_reader()?,
            None => {
                return Err(ApiError::MissingCredentials(
                    "/metrics needs credentials here: an admin's token or an API key with the metrics scope \
                     (footprint keys create --scope metrics), or set server.metrics_access"
                        .to_owned(),
                ));
            }
        }
    }
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render()))
}
